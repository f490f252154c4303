import CLIP
@testable import Continual
import Foundation
import Store
import Testing
import Training

/// Base-to-new generalisation (`eval --on-new`): base is the snapshot's accuracy among the classes
/// it trained, new among classes it has never seen, HM their harmonic mean; each recomputed here
/// from the store's rows through the text tower, on both backends.
@Suite struct BaseToNewTests {
    @Test(arguments: Backend.underTest) func baseNewAndHarmonicMeanMatchARecomputation(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        let lamm = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat", "bird"]))
        var coopRequest = try w.stage("set1", classes: ["dog", "cat", "bird"])
        coopRequest.method = .coop
        let coop = try w.session.writer.addStage(coopRequest)
        // Set2 is registered (and trained by LAMM's lineage), never by the Set1 snapshots.
        _ = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog", "newt"], seed: 2))
        let set2 = try #require(try w.store.stage(dataset: "pets", name: "Set2"))
        let newSamples = try w.store.samples(stage: set2.id!, split: .test)
        let d = w.session.checkpoint.configuration.projectionDim
        let zeroShotNew = try #require(try w.store.baseline(stage: set2.id!, split: .test, protocol: .task))

        for snapshot in [lamm.snapshot.id, coop.snapshot.id] {
            let result = try w.session.evaluator.evaluateBaseToNew(snapshot: snapshot, on: "pets", stage: "Set2")
            #expect(result.stored && result.base.classes == 3 && result.new.classes == 3 && result.base.stages == ["Set1"])
            // Base: the snapshot's own evaluation of its one stage.
            let own = try w.session.evaluator.evaluate(snapshot: snapshot)
            #expect(result.base.correct == own.stages[0].correct && result.base.total == own.stages[0].total)
            #expect(result.base.baseline == own.stages[0].baseline)
            // New: zero-shot CLIP's side is the baseline stored when Set2 was registered.
            #expect(result.new.baseline == zeroShotNew.accuracy && result.new.total == zeroShotNew.total)
            // The method's side, recomputed: the class names' token ids after the snapshot's context
            // vectors (CoOp), or in CLIP's own template (LAMM, which has no rows for them).
            let names = newSamples.classes.map(\.name)
            let context = try w.session.features.context(ofSnapshot: snapshot)?.vectors
            let labelIDs = try names.map { try w.session.template.label(for: $0, tokenizer: w.session.tokenizer).tokenIDs }
            let texts: [Float]
            if let context {
                let contextRows = (0..<context.tokenCount).map { PromptRow.vector(index: $0) }
                let prompts = labelIDs.map { w.session.template.prompt(context: contextRows, label: $0.map { PromptRow.token($0) }) }
                texts = try w.session.tower.forward(prompts, vectors: context.values).normalizedFeatures
            } else {
                texts = try promptFeaturesFromTokenIDs(names, session: w.session)
            }
            #expect(result.new.correct == correctCount(newSamples, texts: texts, dimension: d), "snapshot \(snapshot)")
            if context == nil {
                #expect(result.new.correct == zeroShotNew.correct, "LAMM scores classes it has not trained with CLIP's words")
            }
            // HM from the two accuracies; compare carries the stored result.
            let (b, n) = (100 * Double(result.base.correct) / Double(result.base.total), 100 * Double(result.new.correct) / Double(result.new.total))
            #expect(abs(result.harmonicMean - (b + n == 0 ? 0 : 2 * b * n / (b + n))) < 1e-9)
            #expect(result.harmonicMean <= max(b, n) && result.harmonicMean >= min(b, n))
            let stored = try w.store.latestBaseToNewEvaluations(ofSnapshotsOf: "pets", split: .test).filter { $0.record.snapshotId == snapshot }
            #expect(stored.count == 1 && stored[0].onStage == "Set2" && stored[0].record.newCorrect == result.new.correct)
        }
        #expect(try w.store.verify().ok)
    }

    @Test(arguments: Backend.underTest) func trainedStagesAndClassesAreRefusedAndLeaveTheStoreAsItWas(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        let first = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        let second = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        var other = try w.stage("other", classes: ["owl", "dog"], seed: 3)
        other.dataset = "zoo"
        other.method = .zeroshot
        _ = try w.session.writer.addStage(other)
        let before = try w.store.contentDump()
        // The snapshot's own stage, and a stage its lineage has reached.
        #expect(throws: ContinualError.newStageTrained(snapshot: first.snapshot.id, dataset: "pets", stage: "Set1", snapshotStage: "Set1")) {
            try w.session.evaluator.evaluateBaseToNew(snapshot: first.snapshot.id, on: "pets", stage: "Set1")
        }
        #expect(throws: ContinualError.newStageTrained(snapshot: second.snapshot.id, dataset: "pets", stage: "Set2", snapshotStage: "Set2")) {
            try w.session.evaluator.evaluateBaseToNew(snapshot: second.snapshot.id, on: "pets", stage: "Set2")
        }
        // Another dataset's stage holding a class the snapshot trained.
        #expect(throws: ContinualError.newClassesTrained(snapshot: first.snapshot.id, dataset: "zoo", stage: "Set1", classes: ["dog"])) {
            try w.session.evaluator.evaluateBaseToNew(snapshot: first.snapshot.id, on: "zoo", stage: "Set1")
        }
        #expect(throws: StoreError.unknownStage(dataset: "pets", name: "Set9")) {
            try w.session.evaluator.evaluateBaseToNew(snapshot: first.snapshot.id, on: "pets", stage: "Set9")
        }
        #expect(throws: ContinualError.newStageNotNamed(dataset: "pets", stages: ["Set1", "Set2"])) {
            try w.session.evaluator.newStageTarget("pets")
        }
        #expect(try w.session.evaluator.newStageTarget("zoo") == ("zoo", "Set1"))
        #expect(try w.store.contentDump() == before)
        // The schema holds the same rule: no record of a stage the snapshot's lineage has reached.
        let set1 = try #require(try w.store.stage(dataset: "pets", name: "Set1"))
        #expect(throws: (any Error).self) {
            try w.store.record(baseToNew: BaseToNewEvaluationRecord(snapshotId: second.snapshot.id, stageId: set1.id!, split: .test,
                                                                    base: (1, 2, 50, 50), new: (1, 2, 50, 50), evaluatedAt: Date()))
        }
        #expect(try w.store.contentDump() == before)
    }
}
