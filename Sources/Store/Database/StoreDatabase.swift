import Foundation

/// A connection inside one transaction, on either backend. The store's operations are written
/// once against it, with `?` placeholders and bound arguments; what differs between SQLite
/// and PostgreSQL is in `SQLDialect`.
public protocol StoreDatabase {
    var dialect: SQLDialect { get }
    func executeStatement(_ sql: String, _ arguments: [StoreValue]) throws
    func fetchRows(_ sql: String, _ arguments: [StoreValue]) throws -> [StoreRow]
}

/// Runs transactions on one store's database.
public protocol StoreExecutor: Sendable {
    var dialect: SQLDialect { get }
    /// A read-only transaction that sees one consistent state and never waits for writers.
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T
    /// A read-write transaction. Writers holding one of the same `locks` (dataset names) run
    /// one after the other; other writers run at the same time where the backend can.
    func write<T>(locks: [String], _ body: (any StoreDatabase) throws -> T) throws -> T
    /// A write made by a store opened to read (cached features, evaluation results), when the
    /// backend lets it be made without waiting; false when it was skipped.
    func writeOnSide(_ updates: (any StoreDatabase) throws -> Void) throws -> Bool
    /// The bytes the store takes on its backend (the SQLite file with its log moved in; the
    /// PostgreSQL database).
    func storedBytes() throws -> Int
    func close() throws
}

extension StoreValue: StoreValueConvertible {
    public var storeValue: StoreValue { self }
    public init?(storeValue: StoreValue) { self = storeValue }
}

extension StoreDatabase {
    public func execute(_ sql: String, _ arguments: [any StoreValueConvertible] = []) throws {
        try executeStatement(sql, arguments.map(\.storeValue))
    }

    public func rows(_ sql: String, _ arguments: [any StoreValueConvertible] = []) throws -> [StoreRow] {
        try fetchRows(sql, arguments.map(\.storeValue))
    }

    public func fetchAll<T: StoreRecord>(_ type: T.Type, _ sql: String, _ arguments: [any StoreValueConvertible] = []) throws -> [T] {
        try rows(sql, arguments).map { try RowDecoder.decode(T.self, from: $0) }
    }

    public func fetchOne<T: StoreRecord>(_ type: T.Type, _ sql: String, _ arguments: [any StoreValueConvertible] = []) throws -> T? {
        try rows(sql, arguments).first.map { try RowDecoder.decode(T.self, from: $0) }
    }

    /// The record with id `id` of its table.
    public func fetchOne<T: IdentifiedStoreRecord>(_ type: T.Type, id: Int64) throws -> T? {
        try fetchOne(T.self, "SELECT * FROM \(T.databaseTableName) WHERE id = ?", [id])
    }

    /// The first column of the first row; nil when there is no row or it holds NULL.
    public func scalar<T: StoreValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: [any StoreValueConvertible] = []) throws -> T? {
        guard let row = try rows(sql, arguments).first, row.values[0] != .null else { return nil }
        return row[0] as T
    }

    /// The first column of every row.
    public func scalars<T: StoreValueConvertible>(_ type: T.Type, _ sql: String, _ arguments: [any StoreValueConvertible] = []) throws -> [T] {
        try rows(sql, arguments).map { $0[0] as T }
    }

    /// Inserts a record whose id the database assigns, and sets it.
    public func insert<T: IdentifiedStoreRecord>(_ record: inout T) throws {
        let columns = try RowEncoder.encode(record).filter { $0.name != "id" || $0.value != .null }
        let sql = "INSERT INTO \(T.databaseTableName) (\(columns.map(\.name).joined(separator: ", "))) VALUES (\(placeholders(columns.count))) RETURNING id"
        record.id = try scalar(Int64.self, sql, columns.map(\.value))
    }

    /// Inserts a record; with `ignoringConflicts`, a row with the same key is kept as it is.
    public func insert<T: StoreRecord>(_ record: T, ignoringConflicts: Bool = false) throws {
        // An id left nil is the database's to assign.
        let columns = try RowEncoder.encode(record).filter { $0.name != "id" || $0.value != .null }
        try execute("INSERT INTO \(T.databaseTableName) (\(columns.map(\.name).joined(separator: ", "))) VALUES (\(placeholders(columns.count)))"
                    + (ignoringConflicts ? " ON CONFLICT DO NOTHING" : ""), columns.map(\.value))
    }

    /// Inserts many rows with few statements (several rows per statement, as many as the
    /// backends' limit on bound values allows), not one round trip per row. With `returning`,
    /// gives those columns of the new rows, in no promised order (map them by a key column).
    @discardableResult
    public func insertRows(into table: String, columns: [String], rows: [[StoreValue]], returning: String? = nil) throws -> [StoreRow] {
        guard !rows.isEmpty else { return [] }
        let perStatement = max(1, min(1000, SQLDialect.maximumArguments / columns.count))
        var returned: [StoreRow] = []
        var start = 0
        while start < rows.count {
            let batch = rows[start..<min(start + perStatement, rows.count)]
            let tuple = "(" + placeholders(columns.count) + ")"
            var sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                + Array(repeating: tuple, count: batch.count).joined(separator: ", ")
            let arguments = batch.flatMap { $0 }
            if let returning {
                sql += " RETURNING \(returning)"
                returned += try fetchRows(sql, arguments)
            } else {
                try executeStatement(sql, arguments)
            }
            start += batch.count
        }
        return returned
    }
}

func placeholders(_ count: Int) -> String {
    Array(repeating: "?", count: count).joined(separator: ", ")
}
