import Foundation
import Testing
@testable import Store

@Suite struct SnapshotTests {
    /// pets: Set1 = cat, dog; Set2 = hen, cow. Snapshot 1 trains Set1, snapshot 2 trains Set2.
    func twoStageStore(_ backend: Backend) throws -> (LabelStore, SnapshotRecord, SnapshotRecord) {
        let store = try boundStore(backend)
        _ = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        let first = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set1", method: .lamm,
                                                        trained: ["cat": vectors(1), "dog": vectors(2, tokens: 1)],
                                                        configJSON: #"{"lr":0.002,"seed":1}"#, lossCurveJSON: "[1.5,0.9]"))
        _ = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["hen", "cow"]))
        let second = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm,
                                                         trained: ["hen": vectors(3), "cow": vectors(4)]))
        return (store, first, second)
    }

    @Test(arguments: Backend.underTest) func aNewStageReusesTheRowsOfEarlierClasses(backend: Backend) throws {
        let (store, first, second) = try twoStageStore(backend)
        #expect(second.parentId == first.id)
        #expect(second.id! > first.id!)
        let a = try store.snapshotDetail(first.id!), b = try store.snapshotDetail(second.id!)
        #expect(a.labels.map(\.className) == ["cat", "dog"])
        #expect(b.labels.map(\.className) == ["cat", "dog", "hen", "cow"])
        #expect(Array(b.labels.prefix(2)) == a.labels, "Set1 classes point at the very same rows")
        #expect(b.labels.map(\.introducedBy) == [first.id!, first.id!, second.id!, second.id!])
        #expect(b.summary.trainedClasses == 2 && b.summary.classes == 4)
        #expect(a.config == .object(["lr": .number(0.002), "seed": .number(1)]))
        #expect(a.lossCurve == .array([.number(1.5), .number(0.9)]))
        let vectorsA = try store.labelVectors(snapshot: first.id!), vectorsB = try store.labelVectors(snapshot: second.id!)
        #expect(Array(vectorsB.prefix(2)) == vectorsA)
        #expect(vectorsB[2].vectors == vectors(3))
        // Rows are written once: four label rows for four classes over two snapshots.
        #expect(try store.executor.read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM label_embedding") } == 4)
    }

    /// A snapshot maps only the classes it trained; the rest resolve, through its lineage, to
    /// the row of the nearest ancestor that maps them, a retrained class to its newest row.
    @Test(arguments: Backend.underTest) func aSnapshotMapsOnlyWhatItTrained(backend: Backend) throws {
        let (store, first, second) = try twoStageStore(backend)
        func mapped(_ id: Int64) throws -> Int? {
            try store.executor.read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM snapshot_label WHERE snapshot_id = ?", [id]) }
        }
        #expect(try mapped(first.id!) == 2 && mapped(second.id!) == 2)
        // Set2 again, retraining cat and hen: four stages' worth of classes from three snapshots.
        let third = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm,
                                                        trained: ["cat": vectors(7), "hen": vectors(8)]))
        #expect(third.parentId == second.id)
        #expect(try mapped(third.id!) == 2)
        let labels = try store.snapshotDetail(third.id!).labels
        #expect(labels.map(\.className) == ["cat", "dog", "hen", "cow"])
        #expect(labels.map(\.introducedBy) == [third.id!, first.id!, third.id!, second.id!])
        #expect(try store.labelVectors(snapshot: third.id!).map(\.vectors) == [vectors(7), vectors(2, tokens: 1), vectors(8), vectors(4)])
        // The earlier snapshots still read what they read before.
        #expect(try store.labelVectors(snapshot: second.id!).map(\.vectors) == [vectors(1), vectors(2, tokens: 1), vectors(3), vectors(4)])
        let summary = try store.snapshotSummary(third.id!)
        #expect(summary.classes == 4 && summary.trainedClasses == 2)
        #expect(try store.verify().ok)
    }

    /// Stores written before 0009_inherited_label_rows kept a pointer row for every inherited
    /// class. The migration removes exactly those, and every snapshot reads the same rows after.
    /// (Its statements are idempotent, so they are run again here on a store given such rows.)
    @Test(arguments: Backend.underTest) func theMigrationToInheritedRowsKeepsWhatEverySnapshotReads(backend: Backend) throws {
        let (store, first, second) = try twoStageStore(backend)
        let third = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm,
                                                        trained: ["cat": vectors(7), "hen": vectors(8)]))
        let coop = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set1", method: .coop,
                                                       trained: ["cat": vectors(5), "dog": vectors(6)]))
        func rows(_ id: Int64) throws -> [[Int64]] {
            try store.executor.read { db in
                try db.rows("SELECT snapshot_id, class_id, label_embedding_id FROM snapshot_label WHERE snapshot_id = ? ORDER BY class_id", [id])
                    .map { [$0[0] as Int64, $0[1] as Int64, $0[2] as Int64] }
            }
        }
        let written = try [first.id!, second.id!, third.id!, coop.id!].flatMap(rows)
        // The rows an older store held besides: each inherited class pointed at its parent's row.
        let (cat, dog, cow) = (written[0][1], written[1][1], written[3][1])
        let pointers: [[Int64]] = [[second.id!, cat, written[0][2]], [second.id!, dog, written[1][2]],
                                   [third.id!, dog, written[1][2]], [third.id!, cow, written[3][2]]]
        for p in pointers {
            try rawWrite(store, "INSERT INTO snapshot_label (snapshot_id, class_id, label_embedding_id) VALUES (\(p[0]), \(p[1]), \(p[2]))")
        }
        let snapshots = [first.id!, second.id!, third.id!, coop.id!]
        func resolved() throws -> [[Int64]] { try snapshots.map { try store.labelRows(snapshot: $0).map(\.labelEmbeddingId) } }
        func vectorsRead() throws -> [[TokenVectors]] { try snapshots.map { try store.labelRows(snapshot: $0).map(\.vectors) } }
        let (before, vectorsBefore) = (try resolved(), try vectorsRead())
        #expect(before[2] == [written[4][2], written[1][2], written[5][2], written[3][2]], "snapshot 3: its cat and hen, Set1's dog, Set2's cow")

        let migration = try #require((backend == .sqlite ? embeddedMigrations : embeddedPostgresMigrations)
            .first { $0.identifier == "0009_inherited_label_rows" })
        try store.executor.write(locks: []) { db in
            if let connection = db as? PostgresDatabaseConnection { try connection.executeScript(migration.sql) } else { try db.execute(migration.sql) }
        }
        #expect(try snapshots.flatMap(rows) == written, "exactly the pointer rows are removed")
        #expect(try resolved() == before)
        #expect(try vectorsRead() == vectorsBefore)
        #expect(try store.verify().ok)
        // The trigger is back: the rows stay immutable.
        let refusal = #expect(throws: (any Error).self) { try rawWrite(store, "DELETE FROM snapshot_label") }
        #expect("\(refusal.map { "\($0)" } ?? "")".contains("snapshot labels are immutable"))
    }

    @Test(arguments: Backend.underTest) func diffShowsOnlyTheNewStagesClasses(backend: Backend) throws {
        let (store, first, second) = try twoStageStore(backend)
        let diff = try store.diff(first.id!, second.id!)
        #expect(diff.unchanged == 2)
        #expect(diff.changed.map(\.className) == ["hen", "cow"])
        #expect(diff.changed.allSatisfy { $0.change == .added && $0.stage == "Set2" })
        // Retraining Set1's classes in another snapshot shows them as changed.
        let third = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm,
                                                        trained: ["cat": vectors(1), "hen": vectors(9)]))
        let again = try store.diff(second.id!, third.id!)
        #expect(again.changed.map(\.className) == ["cat", "hen"])
        #expect(again.changed[0].sameContent && !again.changed[1].sameContent)
        #expect(try store.diff(second.id!, second.id!).changed.isEmpty)
    }

    @Test(arguments: Backend.underTest) func snapshotsAndTheirRowsAreImmutable(backend: Backend) throws {
        let (store, first, _) = try twoStageStore(backend)
        let before = try dump(store)
        // Each refused by its trigger, with the trigger's message: an error of any other kind (a
        // type error, say) would prove nothing. The blob is a bound value on both backends.
        let refusals: [(sql: String, arguments: [any StoreValueConvertible], message: String)] = [
            ("UPDATE label_embedding SET vectors = ? WHERE id = 1", [Data(count: 4)], "label embeddings are immutable"),
            ("DELETE FROM label_embedding", [], "label embeddings are immutable"),
            ("UPDATE snapshot SET method = 'coop'", [], "snapshots are immutable"),
            ("DELETE FROM snapshot WHERE id = \(first.id!)", [], "snapshots are immutable"),
            ("UPDATE snapshot_label SET label_embedding_id = 3", [], "snapshot labels are immutable"),
            ("DELETE FROM snapshot_label", [], "snapshot labels are immutable"),
            ("UPDATE class SET name = 'kitten' WHERE name = 'cat'", [], "registered classes are immutable"),
            ("DELETE FROM sample", [], "registered samples are immutable"),
            ("DELETE FROM published_result", [], "published results are read-only"),
        ] + (backend == .postgres ? [("TRUNCATE snapshot_label", [], "snapshot labels are immutable"),
                                     ("TRUNCATE dataset CASCADE", [], "are immutable")] : [])
        for refusal in refusals {
            #expect("\(refusal.sql)") {
                try store.executor.write(locks: []) { try $0.execute(refusal.sql, refusal.arguments) }
            } throws: { error in
                "\(error)".contains(refusal.message)
            }
        }
        #expect(try dump(store) == before)
    }

    @Test(arguments: Backend.underTest) func aFailingSnapshotWriteLeavesNoPartialSnapshot(backend: Backend) throws {
        let (store, _, _) = try twoStageStore(backend)
        let before = try dump(store)
        // A coop lineage has no parent, so untrained classes have no row to inherit.
        #expect(throws: StoreError.missingLabelEmbedding(className: "dog", snapshotStage: "Set2")) {
            try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .coop,
                                                trained: ["cat": vectors(1), "hen": vectors(1), "cow": vectors(1)]))
        }
        #expect(throws: StoreError.labelWidth(className: "hen", expected: 3, found: 2)) {
            try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm,
                                                trained: ["hen": TokenVectors(tokenCount: 1, width: 2, values: [1, 2])]))
        }
        #expect(throws: StoreError.notAClassOfStage(className: "hen", stage: "Set1")) {
            try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set1", method: .lamm, trained: ["hen": vectors(1)]))
        }
        #expect(try dump(store) == before)
    }

    @Test(arguments: Backend.underTest) func eachMethodKeepsItsOwnLineage(backend: Backend) throws {
        let (store, _, second) = try twoStageStore(backend)
        let coop = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set1", method: .coop,
                                                       trained: ["cat": vectors(5), "dog": vectors(6)],
                                                       contextVectors: vectors(0.5, tokens: 4)))
        #expect(coop.parentId == nil)
        let coop2 = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .coop,
                                                        trained: ["hen": vectors(7), "cow": vectors(8)]))
        #expect(coop2.parentId == coop.id && coop2.contextVectorsId == coop.contextVectorsId)
        let summaries = try store.snapshots(dataset: "pets")
        #expect(summaries.map(\.method) == [.lamm, .lamm, .coop, .coop])
        #expect(summaries.map(\.parent) == [nil, summaries[0].id, nil, coop.id])
        #expect(try store.snapshotDetail(coop.id!).contextVectors?.tokenCount == 4)
        #expect(second.contextVectorsId == nil)
    }

    @Test(arguments: Backend.underTest) func unknownSnapshotsAndCrossDatasetDiffsAreErrors(backend: Backend) throws {
        let (store, first, second) = try twoStageStore(backend)
        #expect(throws: StoreError.unknownSnapshot(id: 99, latest: second.id!)) { try store.snapshotDetail(99) }
        #expect(throws: StoreError.unknownSnapshot(id: 99, latest: nil)) { try boundStore(backend).snapshotDetail(99) }
        _ = try store.registerStage(dataset: "farm", stage: nil, data: stageData(["ox"]))
        let farm = try store.writeSnapshot(NewSnapshot(dataset: "farm", stage: "Set1", method: .lamm, trained: ["ox": vectors(1)]))
        #expect(throws: StoreError.snapshotsOfDifferentDatasets(a: first.id!, b: farm.id!)) { try store.diff(first.id!, farm.id!) }
        #expect(throws: StoreError.unknownDataset(name: "zoo", known: ["pets", "farm"])) { try store.snapshots(dataset: "zoo") }
    }

    @Test(arguments: Backend.underTest) func verifyPassesAfterSeveralStagesAndFindsTampering(backend: Backend) throws {
        let (store, _, _) = try twoStageStore(backend)
        _ = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["owl", "bat"]))
        _ = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set3", method: .lamm,
                                                trained: ["owl": vectors(1), "bat": vectors(2)]))
        let report = try store.verify()
        #expect(report.ok, "\(report.checks.filter { !$0.ok })")
        #expect(report.checks.count >= 9)

        // Tamper below the triggers, as a broken tool writing the file directly might.
        let tampering = switch backend {
        case .sqlite: ["DROP TRIGGER label_embedding_no_update",
                       "UPDATE label_embedding SET vectors = zeroblob(length(vectors)) WHERE id = 2",
                       "DROP TRIGGER snapshot_label_no_delete"]
        case .postgres: ["ALTER TABLE label_embedding DISABLE TRIGGER label_embedding_no_update",
                         "UPDATE label_embedding SET vectors = decode(repeat('00', octet_length(vectors)), 'hex') WHERE id = 2",
                         "ALTER TABLE snapshot_label DISABLE TRIGGER snapshot_label_no_delete"]
        }
        // Snapshot 1's row of cat is the one snapshot 2 inherits.
        for sql in tampering + ["DELETE FROM snapshot_label WHERE snapshot_id = 1 AND class_id = 1"] { try rawWrite(store, sql) }
        let tampered = try store.verify()
        #expect(!tampered.ok)
        let problems = tampered.checks.flatMap(\.problems)
        if backend == .postgres {
            #expect(problems.contains("trigger label_embedding.label_embedding_no_update is disabled"), "\(problems)")
        }
        #expect(problems.contains { $0.contains("label_embedding 2") && $0.contains("sha256") })
        #expect(problems.contains { $0.contains("snapshot 1 has no label row for class 'cat'") })
        #expect(problems.contains { $0.contains("snapshot 2 has no label row for class 'cat'") })
    }
}
