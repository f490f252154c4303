import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file a command writes on request (`compare --html/--csv`, `export --out`): checked before
/// the command does any work, and written whole.
///
/// It refuses to replace what must not be replaced: anything but a regular file (a FIFO, a
/// device, a folder), and the files it is told to protect, the store's own files and the files
/// the command reads. A protected file is the output when both name the same device and inode
/// (a hard link, a symbolic link, `./s.sqlite`) or resolve to the same path (a write-ahead log
/// that does not exist yet).
///
/// The bytes go into a new temporary file in the same folder, which is flushed to disk and
/// renamed over the name (rename(2)): a reader never sees half a file, and a write that fails
/// (a full disk) leaves the old file as it was. A symbolic link is written through: the file it
/// points at is replaced, the link stays.
public struct OutputFile: Sendable {
    /// A file the output must not be, and what it is, for the message ("the store itself (--db)").
    public struct Protected: Sendable, Equatable {
        public var path: String
        public var what: String

        public init(_ path: String, what: String) {
            self.path = path
            self.what = what
        }

        /// An SQLite database and the files SQLite keeps beside it, under the name given and,
        /// when that is a symbolic link, beside the file it points at (where SQLite keeps them).
        public static func sqliteDatabase(_ path: String, option: String) -> [Protected] {
            let named = "\(option) \(path)"
            let companions = [("", "the store itself (\(option))"), ("-wal", "the store's write-ahead log (\(named))"),
                              ("-shm", "the store's shared-memory file (\(named))"), ("-journal", "the store's rollback journal (\(named))")]
            var files = companions.map { Protected(path + $0.0, what: $0.1) }
            if let real = OutputFile.realPath(path), real != OutputFile.absolute(path) {
                files += companions.map { Protected(real + $0.0, what: $0.1) }
            }
            return files
        }
    }

    /// The option that names the file, for messages (`--html`).
    public let option: String
    /// The path as the user gave it.
    public let path: String
    public private(set) var protected: [Protected]

    /// Checks that `path` can be written and is none of `protected`, before the command starts.
    public init(option: String, path: String, protecting protected: [Protected] = []) throws {
        self.option = option
        self.path = path
        self.protected = protected
        _ = try target()
    }

    /// The same output, also kept off `more`: files known only once the command runs (the
    /// checkpoint it loads, the images it reads).
    public func protecting(_ more: [Protected]) throws -> OutputFile {
        var output = self
        output.protected += more
        _ = try output.target()
        return output
    }

    public func write(_ text: String) throws {
        try write(Data(text.utf8))
    }

    /// Writes `data` into a temporary file beside the target, flushes it, and renames it over
    /// the target. The checks run again first, as things may have changed since `init`.
    public func write(_ data: Data) throws {
        let target = try target()
        let folder = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        var existing = stat()
        let replacing = stat(target, &existing) == 0
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<100 {
            temporary = (folder as NSString).appendingPathComponent(".\(name).tmp-\(String(UInt32.random(in: .min ... .max), radix: 16))")
            // O_EXCL: a new file of this process's own, never one that is there already.
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw OutputFileError.cannotWrite(option: option, path: path, reason: Self.lastError()) }
        func fail(_ reason: String) -> OutputFileError {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporary)
            return .cannotWrite(option: option, path: path, reason: reason)
        }
        guard writeAll(descriptor, data) else { throw fail(Self.lastError()) }
        if replacing {
            // The new file keeps the permissions (and, where allowed, the owner) of the one it replaces.
            _ = fchown(descriptor, existing.st_uid, existing.st_gid)
            _ = fchmod(descriptor, existing.st_mode & 0o7777)
        }
        guard fsync(descriptor) == 0 else { throw fail(Self.lastError()) }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw fail(Self.lastError()) }
        guard rename(temporary, target) == 0 else { throw fail(Self.lastError()) }
        // The rename itself reaches the disk with the folder.
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            _ = fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// The file to replace, after every check: the path itself, or what its symbolic link
    /// points at.
    func target() throws -> String {
        guard !path.isEmpty else { throw OutputFileError.empty(option: option) }
        guard !path.hasSuffix("/") else { throw OutputFileError.notARegularFile(option: option, path: path, kind: .folder) }
        var link = stat()
        let isLink = lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK
        let kind = FileKind(path: path)
        switch kind {
        case .missing:
            if isLink {
                let pointee = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw OutputFileError.danglingLink(option: option, path: path, target: pointee)
            }
        case .regular:
            break
        case let .unreachable(reason):
            throw OutputFileError.cannotWrite(option: option, path: path, reason: reason)
        default:
            throw OutputFileError.notARegularFile(option: option, path: path, kind: kind)
        }
        let target = Self.resolved(path)
        let folder = isLink ? (target as NSString).deletingLastPathComponent : (Self.absolute(path) as NSString).deletingLastPathComponent
        guard FileKind(path: folder) == .folder else { throw OutputFileError.missingFolder(option: option, path: path, folder: folder) }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw OutputFileError.unwritableFolder(option: option, path: path, folder: folder, reason: Self.lastError())
        }
        var info = stat()
        let identity = stat(target, &info) == 0 ? (device: info.st_dev, inode: info.st_ino) : nil
        for file in protected {
            var other = stat()
            let same = Self.resolved(file.path) == target
                || (identity != nil && stat(file.path, &other) == 0 && other.st_dev == identity!.device && other.st_ino == identity!.inode)
            if same { throw OutputFileError.protected(option: option, path: path, what: file.what) }
        }
        return target
    }

    /// `path` made absolute against the working folder, with `.` and `..` taken out.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The path with every symbolic link resolved (realpath(3)), when it exists.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Where `path` is, links resolved: the file's real path, or the real path of its folder
    /// and its name when the file does not exist yet.
    static func resolved(_ path: String) -> String {
        if let real = realPath(path) { return real }
        let absolute = absolute(path)
        let folder = (absolute as NSString).deletingLastPathComponent
        guard let realFolder = realPath(folder) else { return absolute }
        return (realFolder as NSString).appendingPathComponent((absolute as NSString).lastPathComponent)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

/// Why an output file was refused or could not be written. Each message names the option and
/// the file and says what to do; nothing was written over the file.
public enum OutputFileError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case empty(option: String)
    case notARegularFile(option: String, path: String, kind: FileKind)
    case protected(option: String, path: String, what: String)
    case danglingLink(option: String, path: String, target: String)
    case missingFolder(option: String, path: String, folder: String)
    case unwritableFolder(option: String, path: String, folder: String, reason: String)
    case cannotWrite(option: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .empty(option):
            return "\(option) is empty; give the path of the file to write."
        case let .notARegularFile(option, path, .folder):
            return "\(option) \(path) is a folder, not a file; give the path of a file to write (in that folder or another)."
        case let .notARegularFile(option, path, kind):
            return "\(option) \(path) is \(kind), not a regular file; lamm-store writes its output only as a regular file, so choose a file name."
        case let .protected(option, path, what):
            return "\(option) \(path) is \(what); choose another file name."
        case let .danglingLink(option, path, target):
            return "\(option) \(path) is a symbolic link to \(target), which does not exist; point the link at an existing file, or choose another file name."
        case let .missingFolder(option, path, folder):
            return "\(option) \(path): the folder \(folder) does not exist (or is not a folder). Create it, or choose a file in another folder."
        case let .unwritableFolder(option, path, folder, reason):
            return "\(option) \(path): the folder \(folder) cannot be written (\(reason)); the file is written beside its name and renamed over it. "
                + "Choose a file in a writable folder, or make this one writable."
        case let .cannotWrite(option, path, reason):
            return "\(option) \(path): cannot write the file (\(reason)); nothing was written over it. Check that its folder has space, then run the command again."
        }
    }

    public var errorDescription: String? { description }
}

/// Writes every byte of `data` to `descriptor`, through short writes and interruptions.
private func writeAll(_ descriptor: Int32, _ data: Data) -> Bool {
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
        var offset = 0
        while offset < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }
}
