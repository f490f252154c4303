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
        // PostgreSQL's form of each migration, under the same name.
        let postgres = Self.migrationsDirectory.appendingPathComponent("postgres")
        let postgresFiles = try FileManager.default.contentsOfDirectory(atPath: postgres.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(postgresFiles == files, "Migrations/postgres/ holds the PostgreSQL form of every file in Migrations/")
        #expect(embeddedPostgresMigrations.map { $0.identifier + ".sql" } == postgresFiles)
        for (file, migration) in zip(postgresFiles, embeddedPostgresMigrations) {
            let text = try String(contentsOf: postgres.appendingPathComponent(file), encoding: .utf8)
            #expect(text == migration.sql, "postgres/\(file) differs from its embedded copy: run `python3 Tools/embed_migrations.py`")
        }
    }

    @Test(arguments: Backend.underTest) func migratesAFreshStoreAndSeedsThePublishedResults(backend: Backend) throws {
        let store = try backend.emptyStore()
        try store.executor.read { db in
            let tables = Set(try db.scalars(String.self, db.dialect.tableNamesQuery))
            for table in ["model", "dataset", "stage", "class", "sample", "label_embedding", "context_vectors",
                          "snapshot", "snapshot_label", "baseline", "evaluation", "published_result", "text_feature",
                          "image_feature", "prompt_tensor", "prompted_image_feature", "cross_evaluation", "base_to_new_evaluation"] {
                #expect(tables.contains(table), "table \(table)")
            }
            #expect(try db.scalar(Int.self, "SELECT COUNT(*) FROM published_result") == 183)
            let lamm = try db.fetchOne(PublishedResultRecord.self, """
                SELECT * FROM published_result WHERE table_number = 2 AND method = 'LAMM' AND setting = 'Set1' AND column_name = 'ImageNet'
                """)
            #expect(lamm?.value == 77.23)
            let coopDegradation = try db.fetchOne(PublishedResultRecord.self, """
                SELECT * FROM published_result WHERE table_number = 2 AND method = 'CoOp' AND column_name = 'Degradation'
                """)
            #expect(coopDegradation?.cell == "82.69 (-12.95)")
            let applied = try db.scalars(String.self, "SELECT identifier FROM \(db.dialect.migrationsTable) ORDER BY identifier")
            #expect(applied == db.dialect.migrations.map(\.identifier))
        }
        if backend == .sqlite {
            #expect(try store.sqliteWriter!.read { try Bool.fetchOne($0, sql: "PRAGMA foreign_keys") } == true)
        }
    }

    /// A store written at any schema version keeps every row when a later binary migrates it,
    /// reads back through the current records and queries, and is held to the constraints and
    /// triggers the later migrations added.
    @Test(arguments: embeddedMigrations.indices)
    func carriesRowsOfEveryVersionThroughTheLaterMigrations(version: Int) throws {
        let queue = try DatabaseQueue(configuration: SQLiteStore.configuration(access: .create, path: ":memory:"))
        try SQLiteStore.migrator.migrate(queue, upTo: embeddedMigrations[version].identifier)
        try queue.write { try SchemaRows.insert($0, version: version) }
        let before = try queue.read(SchemaRows.contents)
        for (table, rows) in before {
            #expect(!rows.rows.isEmpty, "SchemaRows writes no \(table) row at \(embeddedMigrations[version].identifier)")
        }
        let added = try SchemaRows.rowsAddedByMigrations(after: version)
        #expect(try queue.read { try SQLiteStore.migrator.hasCompletedMigrations($0) } == (version == embeddedMigrations.count - 1))

        let store = try SQLiteStore.store(writer: queue, path: "old.sqlite")
        #expect(try queue.read { try SQLiteStore.migrator.hasCompletedMigrations($0) })
        let removed = SchemaRows.rowsRemovedByMigrations(after: version)
        try queue.read { db in
            for (table, old) in before {
                let now = try SchemaRows.rows(db, table: table, columns: old.columns)
                let gone = removed[table, default: []]
                #expect(now.count == old.rows.count + added[table, default: 0] - gone.count, "\(table): row count")
                let lost = old.rows.filter { !now.contains($0) && !gone.contains($0) }
                #expect(lost.isEmpty, "\(table): rows changed or lost by the migrations: \(lost)")
                #expect(gone.allSatisfy { old.rows.contains($0) && !now.contains($0) }, "\(table): rows the migrations should remove")
            }
        }
        #expect(try store.verify().checks.filter { !$0.ok } == [])

        // The carried rows read back through today's records and queries.
        let hasImageSamples = SchemaRows.has("0004_image_feature", version)
        let samples = try store.executor.read { try $0.fetchAll(SampleRecord.self, "SELECT * FROM sample ORDER BY id") }
        #expect(samples.map(\.id) == Array(1...(hasImageSamples ? 7 : 6)).map(Int64.init))
        for sample in samples.prefix(6) {
            #expect(sample.view == 0 && sample.imageSha256 == nil, "sample \(sample.id!) from before image features")
            #expect(FloatBlob.decode(sample.feature) == SchemaRows.feature(sample.id!))
        }
        if hasImageSamples { #expect(samples[6].view == 1 && samples[6].imageSha256 == SchemaRows.imageSha256) }
        let labels = try store.labelVectors(snapshot: 2)
        #expect(labels.map(\.className) == ["cat", "dog", "golden retriever"])
        #expect(labels.map(\.stage) == ["Set1", "Set1", "Set2"])
        #expect(labels.map(\.vectors.values) == [1, 2, 3].map { SchemaRows.labelVectors(Int64($0)) })
        #expect(try store.lineage(of: 2).map(\.id) == [2, 1])
        #expect(try store.contextVectors(1)?.values == SchemaRows.contextVectors)
        #expect(try store.baseline(stage: 1, split: .test, protocol: .task)?.accuracy == 50)
        #expect(try store.latestEvaluation(snapshot: 2, stage: 1, split: .test, protocol: .class)?.correct == 1)
        let cached = try store.cachedTextFeatures(labelEmbeddingIds: [1, 4], contextKey: 0)
        #expect(cached == (SchemaRows.has("0003_text_feature", version) ? [1: SchemaRows.feature(101)] : [:]))

        // Every migration's constraints and triggers hold for the carried rows.
        func refused(_ sql: String, _ arguments: StatementArguments = []) {
            #expect(throws: DatabaseError.self, "\(sql)") { try queue.write { try $0.execute(sql: sql, arguments: arguments) } }
        }
        refused("UPDATE snapshot SET config_json = '{}' WHERE id = 1")
        refused("DELETE FROM label_embedding WHERE id = 1")
        refused("UPDATE sample SET view = 2 WHERE id = 1")
        refused("UPDATE model SET feature_width = 8")
        refused("DELETE FROM published_result WHERE table_number = 9")
        refused("INSERT INTO snapshot (dataset_id, method, stage_id, parent_id, created_at, config_json, loss_curve_json) VALUES (1, 'lamm', 2, 3, ?, '{}', '[]')",
                [SchemaRows.date])
        refused("INSERT INTO published_result (source, table_number, method, setting, column_name, cell, value) VALUES ('x', 2, 'LAMM', 'Set1', 'ImageNet', '1', 1)")
        // 0003: a text feature must have the carried model's width and name a carried label row.
        refused("INSERT INTO text_feature VALUES (2, 0, ?)", [FloatBlob.encode([Float](repeating: 1, count: 3))])
        refused("INSERT INTO text_feature VALUES (99, 0, ?)", [FloatBlob.encode([Float](repeating: 1, count: 4))])
        try store.cacheTextFeatures([2: [1, 0, 0, 0]], contextKey: 0)
        refused("DELETE FROM text_feature WHERE label_embedding_id = 2")
        // 0004: image features and a carried class's new samples follow the new columns' checks.
        refused("INSERT INTO image_feature VALUES (?, 0, 1, ?)", [SchemaRows.imageSha256, FloatBlob.encode([Float](repeating: 1, count: 5))])
        let newSample = "INSERT INTO sample (class_id, split, feature, image_path, image_sha256, view) VALUES (1, 'train', ?, 'new.jpg', ?, ?)"
        let feature = FloatBlob.encode([Float](repeating: 1, count: 4))
        refused(newSample, [feature, "abc", 0])
        refused(newSample, [feature, SchemaRows.imageSha256, -1])
        try queue.write { try $0.execute(sql: newSample, arguments: [feature, SchemaRows.imageSha256, 3]) }
        // 0005: prompt tensors belong to MaPLe snapshots, fill their shape and never change.
        if SchemaRows.has("0005_prompt_tensor", version) {
            #expect(try store.promptTensors(snapshot: 4).map(\.values) == [SchemaRows.promptTensor])
            refused("UPDATE prompt_tensor SET name = 'x'")
            refused("DELETE FROM prompted_image_feature")
        }
        let tensor = FloatBlob.encode([Float](repeating: 1, count: 6))
        let newTensor = "INSERT INTO prompt_tensor (snapshot_id, name, position, shape_json, data, content_sha256) VALUES (?, ?, 1, ?, ?, ?)"
        refused(newTensor, [1, "deep_text.2", "[2, 3]", tensor, FloatBlob.sha256(tensor)])  // a LAMM snapshot
        refused(newTensor, [3, "deep_text.2", "[2, 4]", tensor, FloatBlob.sha256(tensor)])  // 6 floats for 8
        refused("INSERT INTO prompted_image_feature VALUES (?, ?, ?)", [SchemaRows.imageSha256, String(repeating: "01", count: 32), FloatBlob.encode([1, 2, 3])])
        // 0006: a run's snapshot continues the same run only; run tags are JSON objects.
        let newSnapshot = """
            INSERT INTO snapshot (dataset_id, method, stage_id, parent_id, created_at, config_json, loss_curve_json, run)
            VALUES (1, 'lamm', 2, ?, ?, '{}', '[]', ?)
            """
        refused(newSnapshot, [1, SchemaRows.date, SchemaRows.run])  // parent 1 is the add-classes lineage
        refused(newSnapshot, [nil, SchemaRows.date, "[1]"])
        if SchemaRows.has("0006_run", version) {
            #expect(try store.snapshotSummary(5).run == RunTag(shots: 1, seed: 1) && store.snapshotSummary(1).run == nil)
        }
        // 0007: a cross-dataset evaluation is of another dataset's stage.
        refused("""
            INSERT INTO cross_evaluation (snapshot_id, stage_id, split, matched_classes, unmatched_classes_json, correct, total, accuracy, baseline, evaluated_at)
            VALUES (2, 1, 'test', 2, '[]', 1, 2, 50, 25, ?)
            """, [SchemaRows.date])
        // 0012: a base-to-new evaluation is never of a stage the snapshot's lineage reached.
        let newBaseToNew = """
            INSERT INTO base_to_new_evaluation (snapshot_id, stage_id, split, base_correct, base_total, base_accuracy, base_baseline,
                                                new_correct, new_total, new_accuracy, new_baseline, evaluated_at)
            VALUES (?, ?, 'test', 1, 2, 50, 50, 1, 2, 50, 50, ?)
            """
        refused(newBaseToNew, [2, 1, SchemaRows.date])  // snapshot 2 is of Set2
        refused(newBaseToNew, [1, 1, SchemaRows.date])  // snapshot 1 is of Set1
        if SchemaRows.has("0012_base_to_new_evaluation", version) {
            #expect(try store.latestBaseToNewEvaluations(ofSnapshotsOf: "pets", split: .test).map { "\($0.onDataset):\($0.onStage)" } == ["pets-v2:Set1"])
        }
        // 0010: a claim that is not waiting names its worker and lease; a failed one says why.
        refused("INSERT INTO run_claim (dataset_id, method, run, state) VALUES (1, 'coop', ?, 'running')", [SchemaRows.run])
        refused("""
            INSERT INTO run_claim (dataset_id, method, run, state, worker, claimed_at, heartbeat_at, lease_seconds)
            VALUES (1, 'coop', ?, 'failed', 'w', 1, 1, 1)
            """, [SchemaRows.run])
        if SchemaRows.has("0007_cross_evaluation", version) {
            #expect(try store.latestCrossEvaluations(ofSnapshotsOf: "pets", split: .test).map { "\($0.onDataset):\($0.onStage)" } == ["pets-v2:Set1"])
        }
    }

    @Test func refusesAStoreWithANewerSchema() throws {
        let queue = try DatabaseQueue()
        _ = try SQLiteStore.store(writer: queue, path: "new.sqlite")
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        #expect(throws: StoreError.newerSchema(path: "new.sqlite", unknown: ["9999_future"])) {
            try SQLiteStore.store(writer: queue, path: "new.sqlite")
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
        #expect(try store.sqliteWriter!.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
    }
}

/// Rows of every table, written with the SQL of the schema version they were written at, as an
/// older lamm-store would have left them: a dataset of two stages, LAMM snapshots of both
/// (the second inheriting Set1's label rows) and a CoOp snapshot with context vectors.
enum SchemaRows {
    static let date = "2024-05-06 07:08:09.000"
    static let imageSha256 = String(repeating: "cd", count: 32)
    static let contextVectors: [Float] = [0.5, -0.5, 0.25, -0.25, 1, -1]

    /// Whether the schema at `version` (an index into `embeddedMigrations`) includes `migration`.
    static func has(_ migration: String, _ version: Int) -> Bool {
        embeddedMigrations.prefix(version + 1).contains { $0.identifier == migration }
    }

    /// A 4-wide feature that differs per row.
    static func feature(_ row: Int64) -> [Float] { [Float(row), 1, -Float(row) / 8, 0.5] }

    /// Label-embedding row `id`: one token for cat and dog, two for golden retriever, width 3.
    static func labelVectors(_ id: Int64) -> [Float] {
        (0..<((id == 3 ? 2 : 1) * 3)).map { Float(id) + Float($0) / 4 }
    }

    static func insert(_ db: Database, version: Int) throws {
        func run(_ sql: String, _ arguments: StatementArguments = []) throws { try db.execute(sql: sql, arguments: arguments) }
        try run("""
            INSERT INTO model (id, name, directory, weights_file, weights_sha256, config_json, token_embedding_width, feature_width, registered_at)
            VALUES (1, 'tiny', '/models/tiny', 'model.safetensors', ?, '{"projection_dim": 4}', 3, 4, ?)
            """, [String(repeating: "ab", count: 32), date])
        try run("INSERT INTO dataset (id, name, created_at) VALUES (1, 'pets', ?)", [date])
        try run("INSERT INTO stage (id, dataset_id, name, position, source_file, created_at) VALUES (1, 1, 'Set1', 0, 'set1.csv', ?), (2, 1, 'Set2', 1, NULL, ?)",
                [date, date])
        try run("INSERT INTO class (id, dataset_id, stage_id, name, label_index) VALUES (1, 1, 1, 'cat', 0), (2, 1, 1, 'dog', 1), (3, 1, 2, 'golden retriever', 0)")
        // A train and a test sample per class, from a feature file or from an image path.
        for id: Int64 in 1...6 {
            let fromFile = id <= 2
            try run("INSERT INTO sample (id, class_id, split, feature, image_path, feature_file, feature_row) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [id, (id + 1) / 2, id % 2 == 1 ? "train" : "test", FloatBlob.encode(feature(id)),
                     fromFile ? nil : "images/\(id).jpg", fromFile ? "set1.npy" : nil, fromFile ? id - 1 : nil])
        }
        // Rows 1-3 trained by LAMM, 4-5 CLIP's words for CoOp's classes.
        for (id, classId): (Int64, Int64) in [(1, 1), (2, 2), (3, 3), (4, 1), (5, 2)] {
            let vectors = FloatBlob.encode(labelVectors(id))
            try run("INSERT INTO label_embedding (id, class_id, token_count, width, vectors, content_sha256, created_at) VALUES (?, ?, ?, 3, ?, ?, ?)",
                    [id, classId, id == 3 ? 2 : 1, vectors, FloatBlob.sha256(vectors), date])
        }
        let context = FloatBlob.encode(contextVectors)
        try run("INSERT INTO context_vectors (id, token_count, width, vectors, content_sha256, created_at) VALUES (1, 2, 3, ?, ?, ?)",
                [context, FloatBlob.sha256(context), date])
        for (id, method, stage, parent, contextId): (Int64, String, Int64, Int64?, Int64?) in
            [(1, "lamm", 1, nil, nil), (2, "lamm", 2, 1, nil), (3, "coop", 1, nil, 1)] {
            try run("""
                INSERT INTO snapshot (id, dataset_id, method, stage_id, parent_id, context_vectors_id, created_at, config_json, loss_curve_json)
                VALUES (?, 1, ?, ?, ?, ?, ?, ?, '[{"epoch": 0}]')
                """, [id, method, stage, parent, contextId, date, "{\"seed\": \(id)}"])
        }
        try run("INSERT INTO snapshot_label (snapshot_id, class_id, label_embedding_id) VALUES (1, 1, 1), (1, 2, 2), (2, 1, 1), (2, 2, 2), (2, 3, 3), (3, 1, 4), (3, 2, 5)")
        try run("INSERT INTO baseline (stage_id, split, protocol, correct, total, accuracy, computed_at) VALUES (1, 'test', 'task', 1, 2, 50, ?), (2, 'test', 'task', 1, 1, 100, ?)",
                [date, date])
        try run("""
            INSERT INTO evaluation (snapshot_id, stage_id, split, protocol, correct, total, accuracy, seconds, evaluated_at)
            VALUES (1, 1, 'test', 'task', 2, 2, 100, 0.25, ?), (2, 1, 'test', 'class', 1, 2, 50, 0.5, ?), (2, 2, 'test', 'task', 1, 1, 100, 0.125, ?)
            """, [date, date, date])
        try run("INSERT INTO published_result (source, table_number, method, setting, column_name, cell, value) VALUES ('a store of ours', 9, 'LAMM', 'Set1', 'pets', '50.00 (+1)', 50)")
        if has("0003_text_feature", version) {
            try run("INSERT INTO text_feature (label_embedding_id, context_key, feature) VALUES (1, 0, ?), (4, 1, ?)",
                    [FloatBlob.encode(feature(101)), FloatBlob.encode(feature(104))])
        }
        if has("0004_image_feature", version) {
            try run("INSERT INTO image_feature (content_sha256, view, seed, feature) VALUES (?, 1, 7, ?)", [imageSha256, FloatBlob.encode(feature(201))])
            try run("INSERT INTO sample (id, class_id, split, feature, image_path, image_sha256, view) VALUES (7, 3, 'train', ?, 'images/7.jpg', ?, 1)",
                    [FloatBlob.encode(feature(7)), imageSha256])
        }
        if has("0005_prompt_tensor", version) {
            // A MaPLe snapshot of Set1 (its context is context_vectors 1) with one deep prompt.
            try run("""
                INSERT INTO snapshot (id, dataset_id, method, stage_id, parent_id, context_vectors_id, created_at, config_json, loss_curve_json)
                VALUES (4, 1, 'maple', 1, NULL, 1, ?, '{"seed": 4}', '[]')
                """, [date])
            try run("INSERT INTO snapshot_label (snapshot_id, class_id, label_embedding_id) VALUES (4, 1, 4), (4, 2, 5)")
            let deep = FloatBlob.encode(promptTensor)
            try run("INSERT INTO prompt_tensor (snapshot_id, name, position, shape_json, data, content_sha256) VALUES (4, 'deep_text.1', 0, '[2, 3]', ?, ?)",
                    [deep, FloatBlob.sha256(deep)])
            try run("INSERT INTO prompted_image_feature (content_sha256, prompt_sha256, feature) VALUES (?, ?, ?)",
                    [imageSha256, String(repeating: "ef", count: 32), FloatBlob.encode(feature(301))])
        }
        if has("0006_run", version) {
            // A sweep run's LAMM snapshot of Set1, a lineage of its own beside snapshot 1.
            try run("""
                INSERT INTO snapshot (id, dataset_id, method, stage_id, parent_id, created_at, config_json, loss_curve_json, run)
                VALUES (5, 1, 'lamm', 1, NULL, ?, '{"seed": 1, "shots": 1}', '[]', ?)
                """, [date, Self.run])
            try run("INSERT INTO snapshot_label (snapshot_id, class_id, label_embedding_id) VALUES (5, 1, 1), (5, 2, 2)")
        }
        if has("0007_cross_evaluation", version) {
            // Snapshot 2 evaluated on a second dataset's stage.
            try run("INSERT INTO dataset (id, name, created_at) VALUES (2, 'pets-v2', ?)", [date])
            try run("INSERT INTO stage (id, dataset_id, name, position, source_file, created_at) VALUES (3, 2, 'Set1', 0, 'v2.csv', ?)", [date])
            try run("""
                INSERT INTO cross_evaluation (snapshot_id, stage_id, split, matched_classes, unmatched_classes_json, correct, total, accuracy, baseline, evaluated_at)
                VALUES (2, 3, 'test', 2, '["owl"]', 1, 2, 50, 25, ?)
                """, [date])
        }
        if has("0012_base_to_new_evaluation", version) {
            // Snapshot 1 (Set1) scored on its classes and on the second dataset's stage.
            try run("""
                INSERT INTO base_to_new_evaluation (snapshot_id, stage_id, split, base_correct, base_total, base_accuracy, base_baseline,
                                                    new_correct, new_total, new_accuracy, new_baseline, evaluated_at)
                VALUES (1, 3, 'test', 2, 2, 100, 50, 1, 2, 50, 50, ?)
                """, [date])
        }
        if has("0008_write_receipt", version) {
            // The key of a committed write (PostgreSQL records them; the schema is one).
            try run("INSERT INTO write_receipt (key, committed_at) VALUES ('6f1c1d9e-2f34-4c55-9a8b-0d3e2c1b4a59', ?)", [date])
        }
        if has("0011_snapshot_tag", version) {
            try run("INSERT INTO snapshot_tag (name, snapshot_id, tagged_at) VALUES ('best', 2, ?)", [date])
        }
        if has("0010_run_claim", version) {
            // Snapshot 5's run, done by a worker.
            try run("""
                INSERT INTO run_claim (dataset_id, method, run, state, worker, claimed_at, heartbeat_at, lease_seconds, attempts, finished_at, seconds)
                VALUES (1, 'lamm', ?, 'done', 'host:42', 1700000000, 1700000060, 120, 1, 1700000061, 61)
                """, [Self.run])
        }
    }

    /// Run tag of snapshot 5, a sweep's (from 0006_run on).
    static let run = #"{"seed":1,"shots":1}"#

    /// The deep text prompt [2, 3] of snapshot 4 (from 0005_prompt_tensor on).
    static let promptTensor: [Float] = [0.1, 0.2, 0.3, -0.1, -0.2, -0.3]

    /// Every table's columns and rows, ordered by all columns.
    static func contents(_ db: Database) throws -> [String: (columns: [String], rows: [[DatabaseValue]])] {
        var result: [String: (columns: [String], rows: [[DatabaseValue]])] = [:]
        for table in try tables(db) {
            let columns = try db.columns(in: table).map(\.name)
            result[table] = (columns, try rows(db, table: table, columns: columns))
        }
        return result
    }

    static func tables(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations' ORDER BY name
            """)
    }

    static func rows(_ db: Database, table: String, columns: [String]) throws -> [[DatabaseValue]] {
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        return try Row.fetchAll(db, sql: "SELECT \(list) FROM \"\(table)\" ORDER BY \(list)").map { Array($0.databaseValues) }
    }

    /// Rows the migrations after `version` remove, per table, in column order: before
    /// 0009_inherited_label_rows, snapshot 2 (Set2, parent 1) kept pointer rows to the rows of
    /// cat and dog its parent maps; a snapshot now maps only what it trained.
    static func rowsRemovedByMigrations(after version: Int) -> [String: [[DatabaseValue]]] {
        guard !has("0009_inherited_label_rows", version) else { return [:] }
        return ["snapshot_label": [[2, 1, 1], [2, 2, 2]].map { $0.map { Int64($0).databaseValue } }]
    }

    /// Rows the migrations after `version` write by themselves (seeds), per table.
    static func rowsAddedByMigrations(after version: Int) throws -> [String: Int] {
        let queue = try DatabaseQueue(configuration: SQLiteStore.configuration(access: .create, path: ":memory:"))
        let migrator = SQLiteStore.migrator
        func counts() throws -> [String: Int] {
            try queue.read { db in
                try Dictionary(uniqueKeysWithValues: tables(db).map { ($0, try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\($0)\"")!) })
            }
        }
        try migrator.migrate(queue, upTo: embeddedMigrations[version].identifier)
        let before = try counts()
        try migrator.migrate(queue)
        return try counts().merging(before) { $0 - $1 }
    }
}
