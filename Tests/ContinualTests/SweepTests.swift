import Continual
import Foundation
import Store
import Testing
import Training

/// A sweep stopped after a run's first stage continues that run where it was, and a sweep's
/// stage data are the registered stages as they are (so they are reused, not registered again).
@Suite struct SweepTests {
    @Test func aStoppedSweepContinuesItsRuns() throws {
        let w = try Workspace()
        var set1 = try w.stage("set1", classes: ["dog", "cat"])
        set1.dataset = "pets"
        _ = try w.session.addStage(set1)
        _ = try w.session.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        var configuration = LAMMConfiguration()
        configuration.epochs = 2
        // As if a sweep had been stopped after run (2 shots, seed 1)'s Set1: that stage alone.
        let stage1 = try w.session.store.stage(dataset: "pets", name: "Set1")!
        var partial = set1
        partial.data = try w.session.store.registeredStageData(stage: stage1.id!)
        partial.stage = "Set1"
        partial.run = RunTag(shots: 2, seed: 1)
        partial.configuration = configuration
        partial.configuration.shots = 2
        let written = try w.session.addStage(partial)
        #expect(written.snapshot.run == RunTag(shots: 2, seed: 1) && written.snapshot.parent == nil && !written.newlyRegistered)

        let request = SweepRequest(dataset: "pets", shots: [2], seeds: [1, 2], methods: [.lamm], configurations: [.lamm: configuration])
        let result = try w.session.sweep(request)
        #expect(result.runs.map(\.trainedStages) == [["Set2"], ["Set1", "Set2"]])
        #expect(result.runs[0].snapshots.first == written.snapshot.id)
        let set2 = try w.session.store.snapshotSummary(result.runs[0].snapshots[1])
        #expect(set2.parent == written.snapshot.id && set2.run == RunTag(shots: 2, seed: 1))
        // The other seed is a lineage of its own.
        #expect(result.runs[1].snapshots.allSatisfy { (try? w.session.store.snapshotSummary($0).run?.seed) == 2 })
        // The stages were reused, never registered again.
        #expect(try w.session.store.stages(of: w.session.store.resolveDataset("pets").id!).count == 2)
        #expect(try w.session.store.verify().ok)
    }
}
