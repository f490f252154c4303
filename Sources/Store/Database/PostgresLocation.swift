import Foundation

/// Where a PostgreSQL store is: `postgres://[user[:password]@]host[:port]/database[?sslmode=...]`
/// (or `postgresql://`), as libpq reads it. The password comes from the URL, else `PGPASSWORD`,
/// else the password file (`PGPASSFILE` or `~/.pgpass`); it is never shown: messages use
/// `redacted`, the URL without it.
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// A folder holding the server's Unix socket (`?host=/path`), instead of TCP.
    public var socketFolder: String?
    public var sslMode: SSLMode
    /// CA certificates for sslmode verify-ca / verify-full (`?sslrootcert=FILE`).
    public var sslRootCertificate: String?

    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Parses `text`; `environment` and `home` are the process's unless given (tests).
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                home: String = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) throws {
        guard Self.isPostgresURL(text), let components = URLComponents(string: text) else {
            throw StoreError.badPostgresURL(url: Self.redact(text), reason: "it is not a URL of the form postgres://user@host:5432/database")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let known: Set<String> = ["sslmode", "host", "port", "user", "password", "dbname", "sslrootcert", "application_name", "connect_timeout"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw StoreError.badPostgresURL(url: Self.redact(text), reason: "the parameter '\(unknown)' is not one lamm-store reads (it reads \(known.sorted().joined(separator: ", ")))")
        }
        let socketHost = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = components.percentEncodedHost.flatMap { $0.removingPercentEncoding }.flatMap { $0.isEmpty ? nil : $0 }
            ?? query["host"].flatMap { $0.hasPrefix("/") ? nil : $0 } ?? environment["PGHOST"].flatMap { $0.hasPrefix("/") ? nil : $0 } ?? "localhost"
        socketFolder = socketHost ?? (components.host?.isEmpty ?? true ? environment["PGHOST"].flatMap { $0.hasPrefix("/") ? $0 : nil } : nil)
        if let portText = query["port"] ?? components.port.map(String.init) ?? environment["PGPORT"] {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw StoreError.badPostgresURL(url: Self.redact(text), reason: "the port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        } else {
            port = 5432
        }
        // The user, password and database come percent-encoded and are decoded once (a `%25`
        // in a password is a `%`); the query's values are decoded already.
        func decoded(_ part: String?, _ what: String) throws -> String? {
            guard let part else { return nil }
            guard let text = part.removingPercentEncoding else {
                throw StoreError.badPostgresURL(url: Self.redact(text), reason: "the \(what) is not percent-encoded UTF-8 text")
            }
            return text
        }
        user = try decoded(components.percentEncodedUser, "user name").flatMap { $0.isEmpty ? nil : $0 } ?? query["user"] ?? environment["PGUSER"]
            ?? ProcessInfo.processInfo.userName
        let path = components.percentEncodedPath.hasPrefix("/") ? String(components.percentEncodedPath.dropFirst()) : components.percentEncodedPath
        database = try decoded(path, "database name").flatMap { $0.isEmpty ? nil : $0 } ?? query["dbname"] ?? environment["PGDATABASE"] ?? user
        let modeText = query["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        guard let mode = SSLMode(rawValue: modeText) else {
            throw StoreError.badPostgresURL(url: Self.redact(text), reason: "sslmode '\(modeText)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        sslMode = mode
        sslRootCertificate = query["sslrootcert"] ?? environment["PGSSLROOTCERT"]
        password = try decoded(components.percentEncodedPassword, "password") ?? query["password"] ?? environment["PGPASSWORD"]
        if password == nil {
            let file = environment["PGPASSFILE"] ?? (home as NSString).appendingPathComponent(".pgpass")
            password = Self.passwordFromFile(file, host: socketFolder ?? host, port: port, database: database, user: user)
        }
    }

    /// The URL without its password, for messages: `postgres://user@host:port/database`.
    public var redacted: String {
        var text = "postgres://\(user)@\(host):\(port)/\(database)"
        var parameters: [String] = []
        if let socketFolder { parameters.append("host=\(socketFolder)") }
        if sslMode != .prefer { parameters.append("sslmode=\(sslMode.rawValue)") }
        if !parameters.isEmpty { text += "?" + parameters.joined(separator: "&") }
        return text
    }

    /// `text` without its password, for URLs that do not parse: everything between `//user:`
    /// and the last `@` is taken out (a password may hold an unencoded `@`, `/`, `?` or `#`, so
    /// no earlier one can be trusted to end it), and so is the value of a `password=` parameter.
    public static func redact(_ text: String) -> String {
        var shown = text
        if let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") {
            let credentials = text[scheme.upperBound..<at]
            let user = credentials.prefix { $0 != ":" }
            shown = String(text[..<scheme.upperBound]) + user + String(text[at...])
        }
        return shown.replacingOccurrences(of: #"password=[^&]*"#, with: "password=***", options: .regularExpression)
    }

    /// The password a libpq password file gives: the first line
    /// `hostname:port:database:username:password` whose fields match (`*` matches anything,
    /// `\:` and `\\` escape). A file that others can read is ignored, as libpq does.
    static func passwordFromFile(_ file: String, host: String, port: Int, database: String, user: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
              let permissions = attributes[.posixPermissions] as? NSNumber, permissions.intValue & 0o077 == 0,
              let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let wanted = [host, String(port), database, user]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = [""]
            var escaped = false
            for character in line {
                if escaped {
                    fields[fields.count - 1].append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":", fields.count < 5 {
                    fields.append("")
                } else {
                    fields[fields.count - 1].append(character)
                }
            }
            guard fields.count == 5 else { continue }
            let matches = zip(fields.prefix(4), wanted).allSatisfy { field, value in
                field == "*" || field == value || (field == "localhost" && value.hasPrefix("/"))
            }
            if matches { return fields[4] }
        }
        return nil
    }
}
