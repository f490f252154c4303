import Foundation
import GRDB

/// The store on an SQLite file, through GRDB: WAL mode, readers on snapshots that never wait,
/// one writer at a time for the whole file (SQLite's write lock), so `locks` need no more.
struct SQLiteExecutor: StoreExecutor {
    let writer: any DatabaseWriter
    let path: String
    var dialect: SQLDialect { .sqlite }

    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        try SQLiteStore.mapped(path) { try writer.read { db in try body(SQLiteDatabase(db: db)) } }
    }

    func write<T>(locks: [String], _ body: (any StoreDatabase) throws -> T) throws -> T {
        try SQLiteStore.mapped(path) { try writer.write { db in try body(SQLiteDatabase(db: db)) } }
    }

    /// A write from a store opened to read, on a connection of its own that never waits: made
    /// when the file can be written and no other process holds the write lock.
    func writeOnSide(_ updates: (any StoreDatabase) throws -> Void) throws -> Bool {
        // A file with two names may be written through the other at the same time (see requireSingleName).
        guard FileManager.default.isWritableFile(atPath: path), !SQLiteStore.hasOtherNames(path) else { return false }
        var configuration = SQLiteStore.configuration(access: .write, path: path)
        configuration.busyMode = .immediateError
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            try queue.write { try updates(SQLiteDatabase(db: $0)) }
            // This connection closes before the reader's, which cannot checkpoint.
            try queue.writeWithoutTransaction(SQLiteStore.checkpointUnlessRead)
            return true
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CANTOPEN].contains(error.resultCode) {
            return false
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
    }

    func storedBytes() throws -> Int {
        try SQLiteStore.mapped(path) { try writer.writeWithoutTransaction(SQLiteStore.checkpointUnlessRead) }
        return (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    func close() throws {
        try SQLiteStore.mapped(path) {
            if let pool = writer as? DatabasePool {
                try pool.writeWithoutTransaction(SQLiteStore.checkpointUnlessRead)
                try pool.close()
            } else if let queue = writer as? DatabaseQueue {
                try queue.close()
            }
        }
    }
}

/// A GRDB connection as a `StoreDatabase`.
struct SQLiteDatabase: StoreDatabase {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    func executeStatement(_ sql: String, _ arguments: [StoreValue]) throws {
        try db.execute(sql: sql, arguments: StatementArguments(arguments.map(\.databaseValue)))
    }

    func fetchRows(_ sql: String, _ arguments: [StoreValue]) throws -> [StoreRow] {
        let statement = try db.cachedStatement(sql: sql)
        try statement.setArguments(StatementArguments(arguments.map(\.databaseValue)))
        let columns = statement.columnNames
        var rows: [StoreRow] = []
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            rows.append(StoreRow(columns: columns, values: row.databaseValues.map(StoreValue.init)))
        }
        return rows
    }
}

extension StoreValue {
    init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case let .int64(v): self = .integer(v)
        case let .double(v): self = .real(v)
        case let .string(v): self = .text(v)
        case let .blob(v): self = .blob(v)
        }
    }

    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case let .integer(v): return v.databaseValue
        case let .real(v): return v.databaseValue
        case let .text(v): return v.databaseValue
        case let .blob(v): return v.databaseValue
        }
    }
}
