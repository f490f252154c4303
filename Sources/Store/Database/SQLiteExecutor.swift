import Foundation
import GRDB

/// The store on an SQLite file, through GRDB: WAL mode, readers on snapshots that never wait,
/// one writer at a time for the whole file (SQLite's write lock), so `locks` need no more.
struct SQLiteExecutor: StoreExecutor {
    let writer: any DatabaseWriter
    let path: String
    var dialect: SQLDialect { .sqlite }

    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        try writer.read { db in try body(SQLiteDatabase(db: db)) }
    }

    func write<T>(locks: [String], _ body: (any StoreDatabase) throws -> T) throws -> T {
        try writer.write { db in try body(SQLiteDatabase(db: db)) }
    }

    func close() throws {
        if let pool = writer as? DatabasePool {
            try pool.writeWithoutTransaction(LabelStore.checkpointUnlessRead)
            try pool.close()
        } else if let queue = writer as? DatabaseQueue {
            try queue.close()
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
