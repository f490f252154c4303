// A store in an SQLite file, through GRDB: opening and creating one (made whole under a
// temporary name, then named in one step), telling a store from any other file, migrating it,
// the read-only and immutable connections, the write lock's wait, the checkpoint on close, and
// SQLite's errors as the store's. The operations themselves are the backend's neutral ones
// (LabelStore); PostgreSQL's lifecycle is PostgresSchema.

import Formats
import Foundation
import GRDB
import Synchronization

/// Tells once that a writer is waiting for another process's write lock, and gives up after
/// `SQLiteStore.writeLockTimeout`.
final class WaitNotice: Sendable {
    let path: String
    let started = Mutex<Date?>(nil)

    init(path: String) { self.path = path }

    /// SQLite's busy handler: true to try again (after a short sleep), false to give up.
    func waiting(retries: Int) -> Bool {
        let (since, first) = started.withLock { started -> (Date, Bool) in
            if let started { return (started, false) }
            let now = Date()
            started = now
            return (now, true)
        }
        if first {
            FileHandle.standardError.write(Data("waiting for another process to finish writing \(path)...\n".utf8))
        }
        guard Date().timeIntervalSince(since) < SQLiteStore.writeLockTimeout else { return false }
        usleep(20_000)
        return true
    }
}

/// Opening, creating and migrating a store in an SQLite file.
enum SQLiteStore {
    /// `PRAGMA application_id` of a lamm-store database ("LAMM").
    static let applicationID: Int32 = 0x4C41_4D4D

    /// The SQLite schema, from the migrations embedded in the binary (Migrations/*.sql).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    /// Wraps an open SQLite database and brings its schema up to date. Refuses a store written
    /// by a newer lamm-store, before writing anything.
    static func store(writer: any DatabaseWriter, path: String, access: LabelStore.Access = .write) throws -> LabelStore {
        let migrator = Self.migrator
        let unknown = try writer.read { db -> [String] in
            guard try migrator.hasBeenSuperseded(db) else { return [] }
            let known = Set(migrator.migrations)
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
                .filter { !known.contains($0) }
        }
        guard unknown.isEmpty else { throw StoreError.newerSchema(path: path, unknown: unknown) }
        if access != .read {
            try Self.mapped(path) {
                if try !writer.read(migrator.hasCompletedMigrations) { try migrator.migrate(writer) }
                try writer.writeWithoutTransaction { db in
                    if try Int32.fetchOne(db, sql: "PRAGMA application_id") != Self.applicationID {
                        try db.execute(sql: "PRAGMA application_id = \(Self.applicationID)")
                    }
                }
            }
        }
        return LabelStore(executor: SQLiteExecutor(writer: writer, path: path), path: path, access: access)
    }

    /// A fresh store in memory, for tests.
    static func inMemory() throws -> LabelStore {
        try store(writer: DatabaseQueue(configuration: configuration(access: .create, path: ":memory:")), path: ":memory:")
    }

    /// Opens (with `.create`, makes) the store in the SQLite file at `path`.
    static func open(path: String, access: LabelStore.Access) throws -> LabelStore {
        // SQLite would read these as no file, or as a URI naming another file with its own
        // parameters: a store is named by its plain path, which is all SQLite is ever given.
        if path.hasPrefix("file:") || path == ":memory:" { throw StoreError.sqliteSpecialName(path: path) }
        let fileManager = FileManager.default
        // Told before anything opens the path: opening a FIFO waits for a writer forever.
        switch FileKind(path: path) {
        case .regular:
            break
        case .missing:
            guard access == .create else { throw StoreError.noStore(path: path) }
            return try create(path: path)
        case .folder:
            throw StoreError.isFolder(path: path)
        case let .unreachable(reason):
            throw StoreError.unopenable(path: path, reason: reason)
        case let kind:
            throw StoreError.notAFile(path: path, kind: kind)
        }
        try checkSQLiteHeader(path: path)
        let behind = try inspect(path: path)
        if access != .read { try requireSingleName(path) }
        do {
            if access == .read {
                if behind {
                    // An older store is brought up to date once, by a short write.
                    guard fileManager.isWritableFile(atPath: path) else { throw StoreError.schemaBehindReadOnly(path: path) }
                    try requireSingleName(path)
                    try store(writer: DatabaseQueue(path: path, configuration: configuration(access: .write, path: path)),
                                   path: path, access: .write).close()
                }
                return try store(writer: readOnlyConnection(path: path), path: path, access: .read)
            }
            guard fileManager.isWritableFile(atPath: path),
                  fileManager.isWritableFile(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
            else { throw StoreError.readOnly(path: path) }
            return try store(writer: DatabasePool(path: path, configuration: configuration(access: access, path: path)),
                                  path: path, access: access)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        } catch {
            throw StoreError.unopenable(path: path, reason: "\(error)")
        }
    }

    /// A new store. It is made whole under a temporary name in the same folder and then given
    /// its name in one step that never replaces a file, so that no process ever sees a store half
    /// made: when two processes create one store at once, one names it and the other opens it.
    /// If making it fails (a full disk, say), no file is left behind.
    static func create(path: String) throws -> LabelStore {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).new-\(UUID().uuidString)").path
        func removeTemporary() {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
        }
        do {
            try store(writer: DatabasePool(path: temporary, configuration: configuration(access: .create, path: path)),
                           path: path, access: .create).close()
        } catch {
            removeTemporary()
            if let error = error as? DatabaseError { throw StoreError(error, path: path) }
            throw error
        }
        defer { removeTemporary() }
        // Written through, the log is in the main file: the store is that one file. When another
        // process made the store meanwhile (or a file appeared), what is there is opened.
        if !renameWithoutReplacing(temporary, path), errno != EEXIST {
            throw StoreError.unopenable(path: path, reason: String(cString: strerror(errno)))
        }
        return try open(path: path, access: .create)
    }

    /// Renames `from` to `to` unless `to` exists, in one step (Linux's renameat2 with
    /// RENAME_NOREPLACE; where the file system has no such rename, a hard link then the removal
    /// of the old name, which fails alike when `to` exists). False with errno set otherwise.
    static func renameWithoutReplacing(_ from: String, _ to: String) -> Bool {
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        if let symbol = dlsym(nil, "renameat2") {
            let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
            if renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            guard errno == EINVAL || errno == ENOSYS else { return false }
        }
        guard link(from, to) == 0 else { return false }
        unlink(from)
        return true
    }

    /// Reads the file's marks without changing it: a lamm-store has our application id, or
    /// (written before stores were marked) the migrations table with our first migration.
    /// Returns whether its schema is behind this binary's.
    static func inspect(path: String) throws -> Bool {
        let queue: DatabaseQueue
        do {
            queue = try readOnlyConnection(path: path)
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
        defer { try? queue.close() }
        do {
            return try queue.read { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let hasMigrations = try db.tableExists("grdb_migrations")
                var ours = applicationID == SQLiteStore.applicationID
                if !ours, applicationID == 0, hasMigrations {
                    ours = try Bool.fetchOne(db, sql: "SELECT COUNT(*) > 0 FROM grdb_migrations WHERE identifier = ?",
                                             arguments: [embeddedMigrations[0].identifier]) ?? false
                }
                guard ours else { throw StoreError.notAStore(path: path) }
                return try !migrator.hasCompletedMigrations(db)
            }
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
    }

    /// A connection that never writes, nor takes the write lock. A WAL store in a folder that
    /// cannot be written (where SQLite cannot make the shared-memory file) is read as immutable.
    static func readOnlyConnection(path: String) throws -> DatabaseQueue {
        do {
            return try DatabaseQueue(path: path, configuration: configuration(access: .read, path: path))
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard !FileManager.default.isWritableFile(atPath: folder) else { throw error }
            return try DatabaseQueue(path: immutableURI(path), configuration: configuration(access: .read, path: path))
        }
    }

    /// The URI that opens the file at `path` as immutable: `file:` and the absolute path with
    /// every byte but letters, digits, `/`, `-`, `.`, `_` and `~` percent-encoded, so that a `?`,
    /// `#` or `%` in a file name is part of the name, not the start of parameters.
    static func immutableURI(_ path: String) -> String {
        var absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        // `file://` would start an authority.
        while absolute.hasPrefix("//") { absolute.removeFirst() }
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-._~".utf8)
        let encoded = absolute.utf8.map { plain.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
        return "file:\(encoded)?immutable=1"
    }

    /// Moves the write-ahead log into the main file and truncates it, unless readers hold it:
    /// they are never made to wait, and the next writer checkpoints it instead.
    static func checkpointUnlessRead(_ db: Database) throws {
        do {
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            try db.checkpoint(.truncate)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
        }
    }

    /// How long a writer waits for another process's write lock before giving up.
    public static let writeLockTimeout: TimeInterval = 600

    static func configuration(access: LabelStore.Access, path: String) -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.readonly = access == .read
        if access == .read {
            configuration.busyMode = .timeout(10)
        } else {
            // A writer waits its turn (training is not lost to a lock), and says so once.
            let notice = WaitNotice(path: path)
            configuration.busyMode = .callback { retries in
                notice.waiting(retries: Int(retries))
            }
        }
        return configuration
    }

    /// Runs `body`, turning SQLite's errors into the store's (a full disk, a read-only file, a
    /// lock held too long).
    static func mapped<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError
                    where [.SQLITE_FULL, .SQLITE_READONLY, .SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode)
                        || (error.resultCode == .SQLITE_IOERR && StoreError.deviceIsFull(holding: path)) {
            throw StoreError(error, path: path)
        }
    }

    /// Refuses to write a store file that has more than one name (hard links): SQLite keeps
    /// the write-ahead log and its index beside the name a database is opened by, so two
    /// processes writing through two names each keep their own log, and corrupt the file.
    static func requireSingleName(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_nlink > 1 else { return }
        throw StoreError.hardLinked(path: path, names: Int(info.st_nlink), others: otherNames(of: path, info: info))
    }

    /// Whether the store file has more than one name (see `requireSingleName`).
    static func hasOtherNames(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_nlink > 1
    }

    /// The other names of the file `path` in its own folder (the same device and inode), as
    /// paths beside the one given; names in other folders are not searched for.
    static func otherNames(of path: String, info: stat) -> [String] {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
        let file = link ? URL(fileURLWithPath: path).resolvingSymlinksInPath().path : path
        let folder = (file as NSString).deletingLastPathComponent
        let own = (file as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return [] }
        return names.filter { name in
            var other = stat()
            return name != own && lstat((folder as NSString).appendingPathComponent(name), &other) == 0
                && other.st_dev == info.st_dev && other.st_ino == info.st_ino
        }.sorted().map { (folder as NSString).appendingPathComponent($0) }
    }

    /// Refuses a file that is not SQLite before SQLite touches it, an empty one included (it
    /// is no store, and SQLite would make one of it).
    static func checkSQLiteHeader(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError.unopenable(path: path, reason: "the file cannot be read; check its permissions")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        guard header == Data("SQLite format 3\0".utf8) else {
            throw header.isEmpty ? StoreError.notAStore(path: path) : StoreError.notSQLite(path: path)
        }
    }
}

extension LabelStore {
    /// The GRDB connection of a store in an SQLite file; nil on PostgreSQL.
    var sqliteWriter: (any DatabaseWriter)? { (executor as? SQLiteExecutor)?.writer }
}

extension StoreError {
    /// Whether the file system holding `path` has (almost) no room left: SQLite then reports
    /// an I/O error where it cannot make its shared-memory file.
    static func deviceIsFull(holding path: String) -> Bool {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard let free = (try? FileManager.default.attributesOfFileSystem(forPath: folder))?[.systemFreeSize] as? NSNumber else {
            return false
        }
        return free.int64Value < 64 << 10
    }

    /// SQLite's error as the store's, when it is one a user can act on.
    init(_ error: DatabaseError, path: String) {
        switch error.resultCode {
        case .SQLITE_FULL: self = .diskFull(path: path)
        case .SQLITE_READONLY: self = .readOnly(path: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .locked(path: path)
        case .SQLITE_NOTADB: self = .notSQLite(path: path)
        case .SQLITE_IOERR where Self.deviceIsFull(holding: path): self = .diskFull(path: path)
        case .SQLITE_CORRUPT: self = .unopenable(path: path, reason: "the file is corrupt (\(error.message ?? "SQLITE_CORRUPT")); restore it from a copy")
        default: self = .unopenable(path: path, reason: "\(error)")
        }
    }
}
