import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The store on a PostgreSQL server, through postgres-nio: one connection, used by one
/// transaction at a time. Readers run in REPEATABLE READ READ ONLY transactions (one consistent
/// state; MVCC never makes them wait). Writers take a transaction-scoped advisory lock per
/// dataset they write, so two writers of one dataset run one after the other and writers of
/// different datasets at once.
///
/// A connection the server dropped (a restart, a network failure) is replaced before the next
/// transaction, waiting for the server up to `reconnectWindow`: a command that trained for an
/// hour while the server restarted still commits. Every write carries an idempotency key
/// (Migrations/0008_write_receipt.sql); when the connection is lost while COMMIT is under way, the
/// executor reconnects and looks the key up, so the write is reported as written or not written,
/// never guessed.
final class PostgresExecutor: StoreExecutor {
    let location: PostgresLocation
    let logger: Logger
    /// The connection, replaced when the server dropped it; held while a transaction runs, which
    /// serialises the transactions of this process's threads.
    private let current: Mutex<PostgresConnection>
    var dialect: SQLDialect { .postgres }

    /// Whether writes record their idempotency key: once the store's schema, which holds the
    /// receipts, is in place (not for the migrations that make it, nor a database of another kind).
    private let keyed = Mutex(false)
    func keyWrites() { keyed.withLock { $0 = true } }

    func storedBytes() throws -> Int {
        try read { try $0.scalar(Int.self, "SELECT pg_database_size(current_database())") } ?? 0
    }

    /// The server lets readers and writers run at once; a role that may not write skips.
    func writeOnSide(_ updates: (any StoreDatabase) throws -> Void) throws -> Bool {
        do {
            try write(locks: [], updates)
            return true
        } catch let error as StoreError where error.isReadOnlyRefusal {
            return false
        }
    }

    /// How long a lost connection is tried again before the command gives up (seconds).
    let reconnectWindow = Mutex<TimeInterval>(30)

    private init(location: PostgresLocation, connection: PostgresConnection, logger: Logger) {
        self.location = location
        self.current = Mutex(connection)
        self.logger = logger
    }

    /// Connects, with the password and TLS `location` names. Errors are the store's, naming the
    /// URL without its password.
    static func connect(_ location: PostgresLocation) throws -> PostgresExecutor {
        var logger = Logger(label: "lamm-store.postgres")
        logger.logLevel = .critical
        return PostgresExecutor(location: location, connection: try openConnection(location, logger: logger), logger: logger)
    }

    private static func openConnection(_ location: PostgresLocation, logger: Logger) throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = try tlsConfiguration(location)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.badPostgresURL(url: location.redacted, reason: "its TLS settings cannot be used: \(error)")
        }
        var configuration: PostgresConnection.Configuration
        if let folder = location.socketFolder {
            configuration = .init(unixSocketPath: "\(folder)/.s.PGSQL.\(location.port)", username: location.user,
                                  password: location.password, database: location.database)
        } else {
            configuration = .init(host: location.host, port: location.port, username: location.user,
                                  password: location.password, database: location.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = [("application_name", "lamm-store")]
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                  configuration: configuration, id: 1, logger: logger).wait()
        } catch {
            throw StoreError(connecting: error, location: location)
        }
    }

    /// A new connection in place of a lost one, tried again (every 0.25 s, then up to every 2 s)
    /// while the server cannot be reached, for at most `reconnectWindow`. A refusal that waiting
    /// cannot cure (a wrong password, a dropped database) is thrown at once.
    private func reconnect(_ connection: inout PostgresConnection) throws {
        connection.close().whenComplete { _ in }
        let deadline = Date().addingTimeInterval(reconnectWindow.withLock { $0 })
        var pause = 0.25
        while true {
            do {
                connection = try Self.openConnection(location, logger: logger)
                return
            } catch let error as StoreError {
                guard case .serverUnreachable = error, Date() < deadline else { throw error }
            }
            Thread.sleep(forTimeInterval: pause)
            pause = min(2 * pause, 2)
        }
    }

    static func tlsConfiguration(_ location: PostgresLocation) throws -> PostgresConnection.Configuration.TLS {
        switch location.sslMode {
        case .disable:
            return .disable
        case .allow, .prefer, .require:
            // libpq's require encrypts without checking the certificate (unless a root
            // certificate is given); verify-ca and verify-full check it.
            var tls = TLSConfiguration.makeClientConfiguration()
            if location.sslMode == .require, let root = location.sslRootCertificate {
                tls.trustRoots = .file(root)
                tls.certificateVerification = .noHostnameVerification
            } else {
                tls.certificateVerification = .none
            }
            let context = try NIOSSLContext(configuration: tls)
            return location.sslMode == .require ? .require(context) : .prefer(context)
        case .verifyCA, .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            if let root = location.sslRootCertificate { tls.trustRoots = .file(root) }
            tls.certificateVerification = location.sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            return .require(try NIOSSLContext(configuration: tls))
        }
    }

    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", locks: [], writing: false, body)
    }

    func write<T>(locks: [String], _ body: (any StoreDatabase) throws -> T) throws -> T {
        try transaction("BEGIN", locks: locks, writing: true, body)
    }

    /// Runs `body` between `begin` and COMMIT on the connection, after taking the advisory lock
    /// of each of `locks`; any error rolls back. A connection found lost before the transaction
    /// began is replaced first. A write records its idempotency key before COMMIT; a connection
    /// lost during COMMIT is replaced and the key looked up.
    private func transaction<T>(_ begin: String, locks: [String], writing: Bool, _ body: (any StoreDatabase) throws -> T) throws -> T {
        try current.withLock { connection in
            if connection.isClosed { try reconnect(&connection) }
            var database = PostgresDatabaseConnection(connection: connection, location: location, logger: logger, writing: writing)
            do {
                try database.executeStatement(begin, [])
            } catch StoreError.connectionLost {
                // Dropped while idle (the close not yet seen): nothing had begun.
                try reconnect(&connection)
                database = PostgresDatabaseConnection(connection: connection, location: location, logger: logger, writing: writing)
                try database.executeStatement(begin, [])
            }
            // The write's idempotency key, when the store's schema has its receipts.
            let key = writing && keyed.withLock({ $0 }) ? UUID().uuidString.lowercased() : nil
            let result: T
            do {
                // Sorted, so that two writers locking the same datasets cannot deadlock.
                for lock in Set(locks).sorted() {
                    try database.executeStatement("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [.text("lamm-store " + lock)])
                }
                result = try body(database)
                if let key {
                    try database.executeStatement("INSERT INTO write_receipt (key, committed_at) VALUES (?, CAST(now() AS text))", [.text(key)])
                }
            } catch {
                // A lost connection has rolled back on the server already.
                if !connection.isClosed { _ = try? database.executeStatement("ROLLBACK", []) }
                throw error
            }
            do {
                try database.executeStatement("COMMIT", [])
            } catch StoreError.connectionLost where !writing {
                // A read has all it read; the next transaction reconnects.
                return result
            } catch StoreError.connectionLost {
                // The server may have committed before the connection went: ask it.
                guard let key else {
                    throw StoreError.commitOutcomeUnknown(url: location.redacted, key: nil, reason: "a schema change carries no key to ask about")
                }
                do {
                    try reconnect(&connection)
                    let lookup = PostgresDatabaseConnection(connection: connection, location: location, logger: logger, writing: false)
                    let found = try lookup.scalar(Int.self, "SELECT COUNT(*) FROM write_receipt WHERE key = ?", [key]) ?? 0
                    guard found == 1 else { throw StoreError.commitNotWritten(url: location.redacted, key: key) }
                } catch let error as StoreError {
                    if case .commitNotWritten = error { throw error }
                    throw StoreError.commitOutcomeUnknown(url: location.redacted, key: key, reason: error.description)
                }
            }
            return result
        }
    }

    func close() throws {
        closeConnection(waiting: 5)
    }

    /// A store nobody closed closes its connection when it goes.
    deinit {
        closeConnection(waiting: 0)
    }

    /// Closes the connection, waiting at most `seconds` (a connection the server dropped may
    /// never report its close). The connection is kept until it is closed.
    private func closeConnection(waiting seconds: Double) {
        let connection = current.withLock { $0 }
        guard !connection.isClosed else { return }
        let done = DispatchSemaphore(value: 0)
        connection.close().whenComplete { [connection] _ in
            _ = connection
            done.signal()
        }
        if seconds > 0 { _ = done.wait(timeout: .now() + seconds) }
    }
}

/// The executor's connection inside a transaction, as a `StoreDatabase`.
struct PostgresDatabaseConnection: StoreDatabase {
    let connection: PostgresConnection
    let location: PostgresLocation
    let logger: Logger
    let writing: Bool
    var dialect: SQLDialect { .postgres }

    func executeStatement(_ sql: String, _ arguments: [StoreValue]) throws {
        _ = try run(sql, arguments)
    }

    func fetchRows(_ sql: String, _ arguments: [StoreValue]) throws -> [StoreRow] {
        let result = try run(sql, arguments)
        var columns: [String]?
        return try result.rows.map { row in
            var values: [StoreValue] = []
            var names: [String] = []
            for cell in row {
                if columns == nil { names.append(cell.columnName) }
                values.append(try StoreValue(cell))
            }
            if columns == nil { columns = names }
            return StoreRow(columns: columns!, values: values)
        }
    }

    /// Runs the statements of an SQL file (a migration) one after the other: postgres-nio
    /// sends each as one extended-protocol query, which holds one statement.
    func executeScript(_ sql: String) throws {
        for statement in Self.statements(of: sql) { try executeStatement(statement, []) }
    }

    /// The statements of an SQL text, split at top-level semicolons: not inside quoted text or
    /// identifiers, comments, or dollar-quoted bodies (`$$ ... $$`, `$fn$ ... $fn$`).
    static func statements(of sql: String) -> [String] {
        let text = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var i = 0
        func finish() {
            let statement = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            // A statement of comments only is no statement.
            let code = statement.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
            if !code.isEmpty { statements.append(statement) }
            current = String.UnicodeScalarView()
        }
        while i < text.count {
            let c = text[i]
            if c == "-", i + 1 < text.count, text[i + 1] == "-" {
                while i < text.count, text[i] != "\n" { current.append(text[i]); i += 1 }
                continue
            }
            if c == "/", i + 1 < text.count, text[i + 1] == "*" {
                while i < text.count, !(text[i] == "*" && i + 1 < text.count && text[i + 1] == "/") { current.append(text[i]); i += 1 }
                if i < text.count { current.append(contentsOf: text[i...min(i + 1, text.count - 1)]); i += 2 }
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c)
                i += 1
                while i < text.count, text[i] != c { current.append(text[i]); i += 1 }
                if i < text.count { current.append(text[i]); i += 1 }
                continue
            }
            if c == "$" {
                // A dollar quote's tag: $$ or $name$.
                var j = i + 1
                while j < text.count, text[j] == "_" || CharacterSet.alphanumerics.contains(text[j]) { j += 1 }
                if j < text.count, text[j] == "$" {
                    let tag = Array(text[i...j])
                    current.append(contentsOf: tag)
                    i = j + 1
                    while i < text.count, !(i + tag.count <= text.count && Array(text[i..<(i + tag.count)]) == tag) {
                        current.append(text[i])
                        i += 1
                    }
                    if i < text.count { current.append(contentsOf: tag); i += tag.count }
                    continue
                }
            }
            if c == ";" {
                finish()
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        finish()
        return statements
    }

    private func run(_ sql: String, _ arguments: [StoreValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case let .integer(value): try binds.append(value)
            case let .real(value): try binds.append(value)
            case let .text(value): try binds.append(value)
            case let .blob(value): try binds.append(value)
            }
        }
        let query = PostgresQuery(unsafeSQL: arguments.isEmpty ? sql : Self.numberedPlaceholders(sql), binds: binds)
        guard !connection.isClosed else { throw StoreError.connectionLost(url: location.redacted, writing: writing) }
        do {
            return try connection.query(query, logger: logger).wait()
        } catch {
            throw StoreError(running: error, location: location, writing: writing)
        }
    }

    /// `?` placeholders as PostgreSQL's `$1, $2, ...`, outside quoted text, identifiers,
    /// comments and dollar-quoted bodies.
    static func numberedPlaceholders(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        var previous: Character = " "
        var inComment = false
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false }
            } else if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "-" && previous == "-" {
                inComment = true
            } else if character == "?" {
                number += 1
                result += "$\(number)"
                previous = character
                continue
            }
            result.append(character)
            previous = character
        }
        return result
    }
}

extension StoreValue {
    /// A result cell as the value SQLite would hand back for the same column.
    init(_ cell: PostgresCell) throws {
        guard cell.bytes != nil else {
            self = .null
            return
        }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid:
            self = .integer(try cell.decode(Int64.self))
        case .bool:
            self = .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8:
            self = .real(try cell.decode(Double.self))
        case .numeric:
            let value = NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue
            self = value.rounded() == value && abs(value) < 0x1p53 ? .integer(Int64(value)) : .real(value)
        case .bytea:
            self = .blob(try cell.decode(Data.self))
        default:
            self = .text(try cell.decode(String.self))
        }
    }
}

extension StoreError {
    /// A failed connection attempt as the store's error: the server cannot be reached, refuses
    /// the user, or has no such database.
    init(connecting error: any Error, location: PostgresLocation) {
        let url = location.redacted
        guard let error = error as? PSQLError else {
            self = .serverUnreachable(url: url, reason: "\(error)")
            return
        }
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? ""
        switch (error.code, state) {
        case (.server, "28P01"), (.server, "28000"):
            self = .authenticationFailed(url: url, user: location.user, reason: message)
        case (.server, "3D000"):
            self = .databaseMissing(url: url, database: location.database)
        case (.server, _):
            self = .serverError(url: url, message: message)
        case (.authMechanismRequiresPassword, _):
            self = .authenticationFailed(url: url, user: location.user, reason: "the server asks for a password and none was given")
        case (.sslUnsupported, _):
            self = .serverUnreachable(url: url, reason: "the server does not accept TLS, which sslmode=\(location.sslMode.rawValue) requires")
        default:
            let underlying = error.underlying.map { "\($0)" } ?? "\(error.code)"
            let where_ = location.socketFolder.map { "the socket in \($0)" } ?? "\(location.host):\(location.port)"
            self = .serverUnreachable(url: url, reason: "no connection to \(where_) (\(underlying))")
        }
    }

    /// A failed statement as the store's error: a lost connection says whether a write was under
    /// way (the server rolls it back); the server's own refusals carry its message (a trigger's
    /// names the invariant).
    init(running error: any Error, location: PostgresLocation, writing: Bool) {
        let url = location.redacted
        guard let error = error as? PSQLError else {
            if let error = error as? PostgresError, case let .server(response) = error {
                self = .serverError(url: url, message: response.fields[.message] ?? "\(error)")
            } else if error is ChannelError || error is IOError || error is PostgresError {
                self = .connectionLost(url: url, writing: writing)
            } else {
                self = .serverError(url: url, message: "\(error)")
            }
            return
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "\(error)"
            // Terminated by the administrator or at server shutdown: as a lost connection.
            if ["57P01", "57P02", "57P03"].contains(state) || state.hasPrefix("08") {
                self = .connectionLost(url: url, writing: writing)
            } else {
                self = .serverError(url: url, message: message)
            }
        case .serverClosedConnection, .uncleanShutdown, .connectionError, .clientClosedConnection:
            self = .connectionLost(url: url, writing: writing)
        default:
            self = .serverError(url: url, message: "\(error.code)")
        }
    }

    /// Whether the server refused a write because the transaction or the role may not write
    /// (told apart by the server's message, which is all `serverError` keeps).
    var isReadOnlyRefusal: Bool {
        if case let .serverError(_, message) = self {
            return message.contains("read-only transaction") || message.contains("permission denied")
        }
        return false
    }
}

extension PostgresExecutor {
    /// Runs one statement outside any transaction (CREATE DATABASE and DROP DATABASE cannot
    /// run inside one).
    func executeOutsideTransaction(_ sql: String) throws {
        try current.withLock { connection in
            do {
                _ = try connection.simpleQuery(sql).wait()
            } catch {
                throw StoreError(running: error, location: location, writing: true)
            }
        }
    }

    /// Makes a new, empty database `name` on the server of `url` (whose user may create
    /// databases), and gives the URL of it.
    static func createDatabase(named name: String, onServerOf url: String) throws -> String {
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "a plain database name")
        let location = try PostgresLocation(url)
        let admin = try connect(location)
        defer { try? admin.close() }
        try admin.executeOutsideTransaction("CREATE DATABASE \(name)")
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + name
        return components.string ?? url
    }

    /// A new, empty database with a unique name starting `prefix` on the server of `url`:
    /// a scratch store for tests.
    static func createScratchDatabase(prefix: String, onServerOf url: String) throws -> String {
        let name = prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        return try createDatabase(named: name, onServerOf: url)
    }
}
