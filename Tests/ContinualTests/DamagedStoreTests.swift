import Foundation
import GRDB
import Store
import Testing
import Training

@testable import Continual

/// A store damaged behind lamm-store's back (its triggers dropped, bytes changed, parents looped)
/// gives errors naming the damage, never a trap or an endless walk, and `verify` reports it.
@Suite struct DamagedStoreTests {
    /// A store with two LAMM snapshots, evaluated once (text features cached), and a raw
    /// connection to it with the schema's guards removed.
    func damaged(_ damage: String) throws -> Workspace {
        let w = try Workspace()
        _ = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        _ = try w.session.writer.addStage(try w.stage("set2", classes: ["fish"], seed: 2))
        _ = try w.session.evaluator.evaluate(snapshot: 2)
        #expect(try w.store.verify().ok)
        let raw = try DatabaseQueue(path: w.directory.appendingPathComponent("store.sqlite").path)
        try raw.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                try db.execute(sql: "DROP TRIGGER \"\(trigger)\"")
            }
            try db.execute(sql: damage)
        }
        try raw.close()
        return w
    }

    func problems(_ w: Workspace) throws -> [String] {
        try w.store.verify().checks.flatMap(\.problems)
    }

    @Test func aSampleFeatureOfTheWrongWidth() throws {
        // Sample 7 is the first test row of "dog" (6 train rows come first).
        let w = try damaged("UPDATE sample SET feature = X'0000803F' WHERE id = 7")
        let error = try #require(throws: StoreError.self) { try w.session.evaluator.evaluate(snapshot: 2) }
        #expect(error == .damagedBlob(path: w.store.path, table: "sample", row: "7", column: "feature", bytes: 4, expected: 96))
        #expect(error.description.contains("sample row 7") && error.description.contains("verify"))
        #expect(try problems(w).contains { $0.contains("sample 7") })
    }

    @Test func aCachedTextFeatureOfTheWrongLength() throws {
        let w = try damaged("UPDATE text_feature SET feature = X'00' WHERE label_embedding_id = 1")
        let error = try #require(throws: StoreError.self) { try w.session.evaluator.evaluate(snapshot: 2) }
        guard case .damagedBlob(_, "text_feature", let row, "feature", 1, 96) = error else {
            Issue.record("expected a damaged text_feature blob, got \(error)")
            return
        }
        #expect(row.contains("label_embedding_id 1"))
        #expect(try problems(w).contains { $0.contains("text_feature") && $0.contains("label_embedding_id 1") })
    }

    @Test func labelVectorsOfTheWrongLength() throws {
        let w = try damaged("UPDATE label_embedding SET vectors = X'0000803F0000803F' WHERE id = 2")
        #expect(throws: StoreError.self) { try w.store.labelRows(snapshot: 2) }
        #expect(throws: StoreError.self) { try w.store.labelVectors(snapshot: 1) }
        let found = try problems(w)
        #expect(found.contains { $0.contains("label_embedding 2") && $0.contains("8 bytes") }, "\(found)")
    }

    @Test func anImageFeatureOfTheWrongLength() throws {
        let w = try damaged("""
            INSERT INTO image_feature (content_sha256, view, seed, feature) VALUES ('\(String(repeating: "ab", count: 32))', 0, 0, X'0000')
            """)
        let key = ImageFeatureKey(contentSha256: String(repeating: "ab", count: 32), view: 0, seed: 0)
        let error = try #require(throws: StoreError.self) { try w.store.cachedImageFeatures([key]) }
        #expect(error.description.contains("image_feature") && error.description.contains("2 bytes"))
        #expect(try problems(w).contains { $0.contains("image_feature") })
    }

    @Test func parentsThatLoop() throws {
        let w = try damaged("UPDATE snapshot SET parent_id = 2 WHERE id = 1")
        #expect(throws: StoreError.damagedLineage(path: w.store.path, snapshot: 2)) { try w.store.lineage(of: 2) }
        #expect(throws: StoreError.self) { try w.session.evaluator.evaluate(snapshot: 2) }
        #expect(try problems(w).contains { $0.contains("snapshot 1") && $0.contains("parent") })
    }

    @Test func aSnapshotTrainedOnOtherSamplesThanItsStage() throws {
        // Same width, other values: the stage's content no longer matches what snapshot 1 trained on.
        let w = try damaged("UPDATE sample SET feature = (SELECT feature FROM sample WHERE id = 1) WHERE id = 2")
        #expect(try problems(w).contains { $0.contains("snapshot 1 was trained on other samples than stage Set1") })
    }

    /// Two runs register the same stage name with different samples at the same time: the one
    /// that commits second finds, under the write lock, that the stage it planned for has changed.
    @Test func aStageRegisteredMeanwhileWithOtherSamplesIsRefused() throws {
        let w = try Workspace()
        let first = try w.stage("a", classes: ["dog", "cat"], seed: 1)
        let second = try w.stage("b", classes: ["dog", "cat"], seed: 7)
        let plan = try w.session.writer.planStage(first, after: [], progress: nil)
        _ = try w.session.writer.addStage(second)
        let before = try w.store.contentDump()
        let prepared = try w.session.writer.train(plan, after: nil, progress: nil)
        #expect(throws: StoreError.stageChangedMeanwhile(dataset: "pets", stage: "Set1")) { try w.session.writer.write([prepared]) }
        #expect(try w.store.contentDump() == before)
        #expect(try w.store.verify().ok)
    }
}
