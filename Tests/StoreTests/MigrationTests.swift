import Foundation
import GRDB
import Testing
@testable import Store

@Suite struct MigrationTests {
    static let migrationsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Migrations")

    @Test func embeddedMigrationsEqualTheFilesInMigrations() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.migrationsDirectory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(embeddedMigrations.map { $0.identifier + ".sql" } == files,
                "run `python3 Tools/embed_migrations.py` after adding a migration")
        for (file, migration) in zip(files, embeddedMigrations) {
            let text = try String(contentsOf: Self.migrationsDirectory.appendingPathComponent(file), encoding: .utf8)
            #expect(text == migration.sql, "\(file) differs from its embedded copy: run `python3 Tools/embed_migrations.py`")
        }
    }

    @Test func migratesAFreshStoreAndSeedsThePublishedResults() throws {
        let store = try LabelStore.inMemory()
        try store.reader.read { db in
            for table in ["model", "dataset", "stage", "class", "sample", "label_embedding", "context_vectors",
                          "snapshot", "snapshot_label", "baseline", "evaluation", "published_result"] {
                #expect(try db.tableExists(table), "table \(table)")
            }
            #expect(try PublishedResultRecord.fetchCount(db) == 183)
            let lamm = try PublishedResultRecord
                .filter(Column("table_number") == 2 && Column("method") == "LAMM" && Column("setting") == "Set1" && Column("column_name") == "ImageNet")
                .fetchOne(db)
            #expect(lamm?.value == 77.23)
            let coopDegradation = try PublishedResultRecord
                .filter(Column("table_number") == 2 && Column("method") == "CoOp" && Column("column_name") == "Degradation")
                .fetchOne(db)
            #expect(coopDegradation?.cell == "82.69 (-12.95)")
            #expect(try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") == true)
        }
    }

    @Test func opensStoresOfAnOlderSchemaAndMigratesThemForward() throws {
        let queue = try DatabaseQueue()
        var migrator = LabelStore.migrator
        try migrator.migrate(queue, upTo: embeddedMigrations[0].identifier)
        migrator = LabelStore.migrator
        #expect(try queue.read { try migrator.hasCompletedMigrations($0) } == false)
        let store = try LabelStore(writer: queue, path: ":memory:")
        #expect(try store.reader.read { try LabelStore.migrator.hasCompletedMigrations($0) })
    }

    @Test func refusesAStoreWithANewerSchema() throws {
        let queue = try DatabaseQueue()
        _ = try LabelStore(writer: queue, path: "new.sqlite")
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        #expect(throws: StoreError.newerSchema(path: "new.sqlite", unknown: ["9999_future"])) {
            try LabelStore(writer: queue, path: "new.sqlite")
        }
    }

    @Test func refusesAFileThatIsNotSQLiteAndLeavesItAlone() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-db-\(UUID()).sqlite")
        defer { try? FileManager.default.removeItem(at: url) }
        let text = Data("class,split\ndog,train\nthis is not a database at all\n".utf8)
        try text.write(to: url)
        #expect(throws: StoreError.notSQLite(path: url.path)) { try LabelStore.open(path: url.path, access: .write) }
        #expect(throws: StoreError.notSQLite(path: url.path)) { try LabelStore.open(path: url.path, access: .create) }
        #expect(try Data(contentsOf: url) == text)
    }

    @Test func aMissingStoreIsAnErrorUnlessCreating() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("missing-\(UUID()).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: StoreError.noStore(path: path)) { try LabelStore.open(path: path, access: .write) }
        #expect(!FileManager.default.fileExists(atPath: path))
        let store = try LabelStore.open(path: path, access: .create)
        // WAL mode, so readers can run while a writer works.
        #expect(try store.reader.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }
}
