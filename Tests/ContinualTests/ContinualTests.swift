import CLIP
import Continual
import Formats
import Foundation
import GRDB
import Store
import Testing
import Training

let tinyModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/clip-tiny")

/// A file store bound to the tiny fixture model, and stage files written beside it.
final class Workspace {
    let directory: URL
    let store: LabelStore
    let session: ContinualSession

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("continual-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try LabelStore.open(path: directory.appendingPathComponent("store.sqlite").path, mode: .createIfMissing)
        try store.bindModel(try ModelRecord.describing(checkpoint: tinyModel))
        session = try ContinualSession(store: store)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A stage whose image features cluster around one random centre per class.
    func stage(_ name: String, classes: [String], train: Int = 6, test: Int = 4, seed: UInt64 = 1,
               omitTrainFor: Set<String> = []) throws -> AddStageRequest {
        var random = SplitMix64(seed: seed)
        var csv = "class,split\n"
        var values: [Float] = []
        for c in classes {
            let centre = (0..<24).map { _ in random.nextGaussian() }
            for k in 0..<(train + test) where k >= train || !omitTrainFor.contains(c) {
                csv += "\(c),\(k < train ? "train" : "test")\n"
                values += centre.map { $0 + 0.3 * random.nextGaussian() }
            }
        }
        let csvURL = directory.appendingPathComponent("\(name).csv"), npyURL = directory.appendingPathComponent("\(name).npy")
        try Data(csv.utf8).write(to: csvURL)
        try NPY.write(FloatMatrix(rows: values.count / 24, columns: 24, values: values), to: npyURL)
        var configuration = LAMMConfiguration()
        configuration.epochs = 10
        return AddStageRequest(csv: csvURL, csvName: "\(name).csv", features: npyURL, featuresName: "\(name).npy",
                               dataset: "pets", stage: nil, method: .lamm, configuration: configuration)
    }
}

@Suite struct ContinualTests {
    @Test func aNewStageLeavesEveryEarlierRowAndAccuracyUntouched() throws {
        let w = try Workspace()
        let first = try w.session.addStage(try w.stage("set1", classes: ["dog", "cat", "bird"]))
        let before = try w.session.evaluate(snapshot: first.snapshot.id)
        let set1Rows = try w.store.labelRows(snapshot: first.snapshot.id)
        let second = try w.session.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        #expect(second.snapshot.parent == first.snapshot.id)
        let after = try w.store.labelRows(snapshot: second.snapshot.id)
        #expect(after.count == 5)
        for (old, new) in zip(set1Rows, after.prefix(3)) {
            #expect(old.labelEmbeddingId == new.labelEmbeddingId)
            #expect(FloatBlob.encode(old.vectors.values) == FloatBlob.encode(new.vectors.values))
        }
        let evaluation = try w.session.evaluate(snapshot: second.snapshot.id)
        #expect(evaluation.stages.map(\.stage) == ["Set1", "Set2"])
        let set1 = evaluation.stages[0]
        #expect(set1.accuracy == before.stages[0].accuracy && set1.correct == before.stages[0].correct)
        #expect(set1.degradation == 0 && set1.trainedBy == first.snapshot.id)
        #expect(evaluation.stages[1].degradation == 0 && evaluation.stages[1].trainedBy == second.snapshot.id)
        let diff = try w.store.diff(first.snapshot.id, second.snapshot.id)
        #expect(diff.changed.map(\.className) == ["fish", "frog"] && diff.unchanged == 3)
        #expect(try w.store.verify().ok)
        // The average is sample-weighted over the stages.
        let total = evaluation.stages.map(\.total).reduce(0, +)
        #expect(abs(evaluation.averageAccuracy - 100 * Double(evaluation.stages.map(\.correct).reduce(0, +)) / Double(total)) < 1e-9)
        // Evaluations are stored.
        #expect(try w.store.latestEvaluation(snapshot: second.snapshot.id, stage: after[0].stage.id!, split: .test, protocol: .task) != nil)
    }

    @Test func baselinesAreStoredAndZeroShotSnapshotsHoldCLIPsWords() throws {
        let w = try Workspace()
        var request = try w.stage("set1", classes: ["dog", "cat"])
        request.method = .zeroshot
        let result = try w.session.addStage(request)
        #expect(result.baseline != nil && result.steps == 0)
        let rows = try w.store.labelRows(snapshot: result.snapshot.id)
        let dog = w.session.tokenizer.encode("dog")
        #expect(rows[0].vectors.values == dog.flatMap { w.session.checkpoint.tokenEmbedding(row: $0) })
        let evaluation = try w.session.evaluate(snapshot: result.snapshot.id)
        #expect(evaluation.stages[0].accuracy == evaluation.stages[0].baseline)
        // The same file with another method reuses the registered stage.
        let lamm = try w.session.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        #expect(!lamm.newlyRegistered && lamm.registration.stage == "Set1" && lamm.snapshot.parent == nil)
    }

    @Test(arguments: [(Float(0), Float(1), Float(0.05)), (0.25, 0, 0.05), (0.25, 1, 0), (0, 0, 0)])
    func eachLossTermCanBeSwitchedOff(wc: Float, cos: Float, kd: Float) throws {
        let w = try Workspace()
        var request = try w.stage("set1", classes: ["dog", "cat"])
        request.configuration.lambdaWC = wc
        request.configuration.lambdaCOS = cos
        request.configuration.lambdaKD = kd
        let result = try w.session.addStage(request)
        let loss = try #require(result.finalLoss)
        #expect(loss.total.isFinite)
        if wc == 0 { #expect(abs(loss.total - (loss.ce + cos * loss.cos + kd * loss.kd)) < 1e-4) }
    }

    @Test func classProtocolTrainsAgainstFrozenOldClasses() throws {
        let w = try Workspace()
        let first = try w.session.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        var request = try w.stage("set2", classes: ["fish"], seed: 3)
        request.trainingProtocol = .class
        let second = try w.session.addStage(request)
        #expect(second.snapshot.parent == first.snapshot.id)
        let evaluation = try w.session.evaluate(snapshot: second.snapshot.id, protocol: .class)
        #expect(evaluation.protocol == .class && evaluation.stages.count == 2)
        #expect(evaluation.stages[0].accuracyWhenTrained != nil)
    }

    @Test func badInputIsRefusedAndLeavesTheStoreAsItWas() throws {
        let w = try Workspace()
        let before = try w.store.contentDump()
        #expect(throws: ContinualError.noTrainingRows(file: "set1.csv", classes: ["cat"])) {
            try w.session.addStage(try w.stage("set1", classes: ["dog", "cat"], omitTrainFor: ["cat"]))
        }
        #expect(try w.store.contentDump() == before)
        // Set2 of a method that has no Set1 snapshot.
        var zero = try w.stage("set1", classes: ["dog", "cat"])
        zero.method = .zeroshot
        _ = try w.session.addStage(zero)
        let withSet1 = try w.store.contentDump()
        #expect(throws: ContinualError.missingEarlierStage(method: "lamm", dataset: "pets", stage: "Set2", missing: "Set1")) {
            try w.session.addStage(try w.stage("set2", classes: ["fish"], seed: 2))
        }
        #expect(try w.store.contentDump() == withSet1)
        // More shots than rows: said, and all rows used.
        var many = try w.stage("set1", classes: ["dog", "cat"])
        many.configuration.shots = 10
        let result = try w.session.addStage(many)
        #expect(result.warnings.count == 2 && result.warnings[0].contains("fewer than --shots 10"))
        // The stage file changed since it was registered.
        var changed = try w.stage("set1", classes: ["dog", "cow"])
        changed.stage = "Set1"
        #expect(throws: ContinualError.self) { try w.session.addStage(changed) }
        // Unknown snapshot.
        #expect(throws: StoreError.unknownSnapshot(id: 99, latest: result.snapshot.id)) { try w.session.evaluate(snapshot: 99) }
        // Nothing to evaluate.
        #expect(throws: ContinualError.nothingToEvaluate(snapshot: result.snapshot.id, split: "val", stages: ["Set1"])) {
            try w.session.evaluate(snapshot: result.snapshot.id, split: .val)
        }
    }

    @Test func aMovedOrDifferentModelIsRefused() throws {
        let w = try Workspace()
        let other = tinyModel.deletingLastPathComponent().appendingPathComponent("clip-tiny-f16")
        #expect(throws: StoreError.self) { try ContinualSession(store: w.store, modelDirectory: other) }
        #expect(throws: ContinualError.modelDirectoryMissing(directory: "/nonexistent/model")) {
            try ContinualSession(store: w.store, modelDirectory: URL(fileURLWithPath: "/nonexistent/model"))
        }
    }
}
