import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path names, following symbolic links (stat(2)). lamm-store reads and writes regular
/// files only: opening a FIFO waits until another process opens its other end, reading a device
/// never ends, and replacing either with a file destroys it. Callers check the kind before they
/// open a file, and name it in their messages.
public enum FileKind: Sendable, Equatable, CustomStringConvertible {
    /// Nothing at the path (or a symbolic link to nothing).
    case missing
    case regular
    case folder
    case fifo
    case characterDevice
    case blockDevice
    case socket
    /// The path cannot be looked at (a folder on the way that cannot be searched, a loop of
    /// symbolic links): the system's reason.
    case unreachable(String)

    public init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let error = errno
            self = error == ENOENT || error == ENOTDIR ? .missing : .unreachable(String(cString: strerror(error)))
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .folder
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .unreachable("it is of an unknown file type")
        }
    }

    /// What the path is, for messages: "a FIFO (named pipe)", "a character device", "a folder".
    public var description: String {
        switch self {
        case .missing: "missing"
        case .regular: "a regular file"
        case .folder: "a folder"
        case .fifo: "a FIFO (named pipe)"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case let .unreachable(reason): "unreachable (\(reason))"
        }
    }
}
