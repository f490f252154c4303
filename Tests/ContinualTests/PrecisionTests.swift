// Training in bf16: the snapshot records it, the earlier stages' rows stay exactly as stored
// (LAMM's degradation 0), the text-feature cache keeps fp32 features only, and the accuracy
// lands within 0.5 points of the same run in fp32 (two stages of 12 and 8 classes, 20 test
// images each: 0.5 points is one image in 200).

import CLIP
@testable import Continual
import Foundation
import Kernels
import Store
import Testing
@testable import Training

@Suite(.enabled(if: BF16Support.isAvailable, "needs a CPU with AVX512-BF16 or AMX"))
struct PrecisionTests {
    func twoStages(_ w: Workspace, precision: Precision?) throws -> (first: AddStageResult, second: AddStageResult) {
        func request(_ name: String, _ classes: [String], seed: UInt64) throws -> AddStageRequest {
            var request = try w.stage(name, classes: classes, train: 8, test: 20, seed: seed)
            request.configuration.precision = precision
            return request
        }
        let first = try w.session.writer.addStage(try request("set1", (0..<12).map { "class\($0)" }, seed: 1))
        let second = try w.session.writer.addStage(try request("set2", (12..<20).map { "class\($0)" }, seed: 2))
        return (first, second)
    }

    @Test func bf16TrainingIsRecordedKeepsEarlierRowsAndScoresAsFP32Does() throws {
        let (fp32, bf16) = (try Workspace(), try Workspace())
        let exact = try twoStages(fp32, precision: nil)
        let reduced = try twoStages(bf16, precision: .bf16)

        // The record says which precision trained each snapshot; fp32 records are as before.
        #expect(try bf16.store.snapshotRecord(reduced.second.snapshot.id).configuration?.lamm?.precision == .bf16)
        #expect(try fp32.store.snapshotRecord(exact.second.snapshot.id).configuration?.lamm?.precision == nil)
        // fp32 training options are stored as before (no precision key); the manifest says fp32.
        let stored = try JSONValue(parsing: fp32.store.snapshotRecord(exact.second.snapshot.id).configJson)
        guard case let .object(config) = stored, case let .object(lamm)? = config["lamm"] else { throw Failure("no lamm configuration") }
        #expect(lamm["precision"] == nil)
        #expect(try fp32.store.snapshotRecord(exact.second.snapshot.id).configuration?.manifest?.precision == "fp32")
        #expect(try bf16.store.snapshotRecord(reduced.second.snapshot.id).configuration?.manifest?.precision == "bf16")
        // The stored configuration reads back as the one trained with.
        var trained = try bf16.stage("set2", classes: (12..<20).map { "class\($0)" }, train: 8, test: 20, seed: 2).configuration
        trained.precision = .bf16
        #expect(try bf16.store.snapshotRecord(reduced.second.snapshot.id).configuration?.lamm == trained)

        // The second stage leaves the first stage's rows exactly as they were.
        let firstRows = try bf16.store.labelRows(snapshot: reduced.first.snapshot.id)
        let secondRows = try bf16.store.labelRows(snapshot: reduced.second.snapshot.id)
        for (old, new) in zip(firstRows, secondRows.prefix(firstRows.count)) {
            #expect(old.labelEmbeddingId == new.labelEmbeddingId)
            #expect(FloatBlob.encode(old.vectors.values) == FloatBlob.encode(new.vectors.values))
        }

        // No bf16 feature reached the cache: the trained rows' features are computed (in fp32)
        // when first evaluated, where an fp32 run wrote its own with the commit.
        func uncached(_ w: Workspace, _ rows: [SnapshotClassRow]) throws -> Int {
            var missing = 0
            _ = try w.store.textFeatureCache(contextKey: 0).features(rows.map(\.labelEmbeddingId)) { keys in
                missing = keys.count
                return [:]
            }
            return missing
        }
        #expect(try uncached(bf16, secondRows) == secondRows.count)
        #expect(try uncached(fp32, try fp32.store.labelRows(snapshot: exact.second.snapshot.id)) == 0)

        let (a, b) = (try fp32.session.evaluator.evaluate(snapshot: exact.second.snapshot.id),
                      try bf16.session.evaluator.evaluate(snapshot: reduced.second.snapshot.id))
        print("fp32 average \(a.averageAccuracy)%, bf16 \(b.averageAccuracy)%; stages fp32 \(a.stages.map(\.accuracy)) bf16 \(b.stages.map(\.accuracy))")
        #expect(b.stages.map(\.degradation) == [0, 0])
        #expect(abs(a.averageAccuracy - b.averageAccuracy) <= 0.5)
        for (x, y) in zip(a.stages, b.stages) { #expect(abs((x.accuracy ?? .nan) - (y.accuracy ?? .nan)) <= 0.5, "\(x.stage)") }
        // And the training did run in bf16: its rows are not fp32's to the bit.
        let fp32Rows = try fp32.store.labelRows(snapshot: exact.second.snapshot.id)
        #expect(zip(fp32Rows, secondRows).contains { FloatBlob.encode($0.vectors.values) != FloatBlob.encode($1.vectors.values) })
        #expect(try bf16.store.verify().ok)
    }
}
