import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay between lamm-store and the test's PostgreSQL server that fails as a network or a
/// server restart does, at the moment a test chooses: it drops every connection, refuses new ones
/// for a while, or loses a COMMIT on its way to the server or the server's reply to it (the
/// server then has committed, and the client cannot know). Connections through it use
/// `sslmode=disable`, so that it can see the statements.
final class FaultyLink: Sendable {
    enum CommitFault: Sendable {
        /// The COMMIT never reaches the server, which rolls the transaction back.
        case loseCommit
        /// The COMMIT reaches the server, which commits; its reply is lost.
        case loseReply
    }

    /// One client connection and its connection to the server.
    final class Link: Sendable {
        let client: Int32
        let server: Int32
        /// The transaction under way has written its receipt.
        let writing = Atomic<Bool>(false)
        /// The reply to the COMMIT under way is to be lost.
        let swallowing = Atomic<Bool>(false)
        /// Signalled when the server has answered the COMMIT whose reply is lost.
        let replied = DispatchSemaphore(value: 0)
        /// Relay directions still running; the last one to finish closes both sockets.
        let running = Atomic<Int>(2)

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }

        /// Whether the sockets are closed: their numbers may then be another socket's.
        let closed = Mutex(false)

        /// Ends both directions (the sockets stay open until both relays have finished).
        func cut() {
            closed.withLock { closed in
                guard !closed else { return }
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
            }
        }

        func finished() {
            cut()
            if running.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 {
                closed.withLock { closed in
                    closed = true
                    close(client)
                    close(server)
                }
            }
        }
    }

    struct State {
        var fault: CommitFault?
        var refuseUntil = Date.distantPast
        var links: [Link] = []
        var faults = 0
        var downAfterFault = 0.0
        var stopped = false
    }

    let port: UInt16
    let targetPort: UInt16
    private let listener: Int32
    private let state = Mutex(State())

    init(targetPort: UInt16) throws {
        self.targetPort = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw LinkError(what: "socket") }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw LinkError(what: "bind/listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    struct LinkError: Error { var what: String }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// `url` (the test server's) through this link, without TLS.
    func url(of url: String) -> String {
        var components = URLComponents(string: url)!
        components.port = Int(port)
        components.queryItems = [URLQueryItem(name: "sslmode", value: "disable")]
        return components.string!
    }

    /// The next COMMIT meets `fault`; then the link refuses connections for `seconds`.
    func failNextCommit(_ fault: CommitFault, thenDownFor seconds: Double = 0) {
        state.withLock {
            $0.fault = fault
            $0.downAfterFault = seconds
        }
    }

    /// How many COMMIT faults have happened.
    var faults: Int { state.withLock { $0.faults } }

    /// Drops every connection, as a server restart does, and refuses new ones for `seconds`.
    func restart(downFor seconds: Double) {
        let links = state.withLock { state in
            state.refuseUntil = Date().addingTimeInterval(seconds)
            defer { state.links.removeAll() }
            return state.links
        }
        links.forEach { $0.cut() }
    }

    func stop() {
        // Once: a second close would close whatever socket has the number by then.
        let (links, first) = state.withLock { state in
            defer { state.stopped = true }
            return (state.links, !state.stopped)
        }
        guard first else { return }
        links.forEach { $0.cut() }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                // A client that went before it was accepted, or a signal: go on, unless stopped.
                if state.withLock({ $0.stopped }) { return }
                Thread.sleep(forTimeInterval: 0.01)
                continue
            }
            let (stopped, refusing) = state.withLock { ($0.stopped, Date() < $0.refuseUntil) }
            if stopped { close(client); return }
            if refusing { close(client); continue }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(server); close(client); continue }
            let link = Link(client: client, server: server)
            state.withLock { $0.links.append(link) }
            Thread.detachNewThread { [self] in relayFromClient(link) }
            Thread.detachNewThread { Self.relayFromServer(link) }
        }
    }

    /// The statement PostgreSQL's extended protocol sends for COMMIT: a Parse of "COMMIT".
    static let commit = Array("COMMIT\0".utf8)
    /// The receipt every write of the store inserts before its COMMIT.
    static let receipt = Array("INSERT INTO write_receipt".utf8)

    private func relayFromClient(_ link: Link) {
        defer { link.finished() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(link.client, &buffer, buffer.count)
            guard count > 0 else { return }
            let chunk = Array(buffer[0..<count])
            // Only a write's COMMIT, the one after its receipt (a read's COMMIT ends nothing).
            if Self.contains(chunk, Self.receipt) { link.writing.store(true, ordering: .sequentiallyConsistent) }
            if Self.contains(chunk, Self.commit), link.writing.exchange(false, ordering: .sequentiallyConsistent), let fault = state.withLock({ state -> CommitFault? in
                defer {
                    if state.fault != nil {
                        state.faults += 1
                        state.fault = nil
                        state.refuseUntil = Date().addingTimeInterval(state.downAfterFault)
                    }
                }
                return state.fault
            }) {
                switch fault {
                case .loseCommit:
                    return
                case .loseReply:
                    // The server reads the COMMIT and answers; the answer is dropped and the
                    // client's connection cut only then, so the server has committed.
                    link.swallowing.store(true, ordering: .sequentiallyConsistent)
                    _ = Self.writeAll(link.server, chunk)
                    _ = link.replied.wait(timeout: .now() + 30)
                    return
                }
            }
            guard Self.writeAll(link.server, chunk) else { return }
        }
    }

    private static func relayFromServer(_ link: Link) {
        defer { link.finished() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(link.server, &buffer, buffer.count)
            guard count > 0 else { return }
            // The reply to a COMMIT that is to be lost: the server has committed.
            if link.swallowing.load(ordering: .sequentiallyConsistent) {
                link.replied.signal()
                return
            }
            guard writeAll(link.client, Array(buffer[0..<count])) else { return }
        }
    }

    static func writeAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }
}
