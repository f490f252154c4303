import Foundation

/// Opening a store on a PostgreSQL server: a database that holds no tables becomes a store
/// (with `Access.create`); one whose migrations table names ours is brought up to date; any
/// other is refused untouched, as is a store written by a newer lamm-store.
enum PostgresSchema {
    static func open(_ location: PostgresLocation, access: LabelStore.Access) throws -> LabelStore {
        let executor = try PostgresExecutor.connect(location)
        do {
            try prepare(executor, access: access)
            // The schema is current, its receipts table there: from now on every write is keyed.
            executor.keyWrites()
        } catch {
            try? executor.close()
            throw error
        }
        return LabelStore(executor: executor, path: executor.location.redacted, access: access)
    }

    /// What the database holds, read without changing it.
    struct State {
        var tables: [String]
        var applied: [String]
    }

    static func inspect(_ db: any StoreDatabase) throws -> State {
        let tables = try db.scalars(String.self, SQLDialect.postgres.tableNamesQuery)
        let applied = tables.contains(SQLDialect.postgres.migrationsTable)
            ? try db.scalars(String.self, "SELECT identifier FROM \(SQLDialect.postgres.migrationsTable) ORDER BY identifier") : []
        return State(tables: tables, applied: applied)
    }

    static func prepare(_ executor: PostgresExecutor, access: LabelStore.Access) throws {
        let url = executor.location.redacted
        let state = try executor.read(inspect)
        let known = SQLDialect.postgres.migrations.map(\.identifier)
        if state.tables.contains(SQLDialect.postgres.migrationsTable) {
            guard state.applied.contains(known[0]) else { throw StoreError.notAStore(path: url) }
            let unknown = state.applied.filter { !known.contains($0) }
            guard unknown.isEmpty else { throw StoreError.newerSchema(path: url, unknown: unknown) }
            if state.applied.count < known.count { try migrate(executor, creating: false) }
        } else {
            guard state.tables.isEmpty else { throw StoreError.notAStore(path: url) }
            guard access == .create else { throw StoreError.noStore(path: url) }
            try migrate(executor, creating: true)
        }
    }

    /// Applies the migrations not yet applied, all in one transaction (PostgreSQL's DDL is
    /// transactional), under a lock that makes two processes opening a new store take turns.
    static func migrate(_ executor: PostgresExecutor, creating: Bool) throws {
        let table = SQLDialect.postgres.migrationsTable
        try executor.write(locks: [" schema"]) { db in
            let state = try inspect(db)
            // Looked at again under the lock: another process may have made the store meanwhile.
            if !state.tables.contains(table) {
                guard state.tables.isEmpty else { throw StoreError.notAStore(path: executor.location.redacted) }
                try db.execute("CREATE TABLE \(table) (identifier text PRIMARY KEY, applied_at text NOT NULL)")
            }
            guard let connection = db as? PostgresDatabaseConnection else { return }
            for migration in SQLDialect.postgres.migrations where !state.applied.contains(migration.identifier) {
                try connection.executeScript(migration.sql)
                try db.execute("INSERT INTO \(table) (identifier, applied_at) VALUES (?, ?)", [migration.identifier, Date()])
            }
        }
    }
}
