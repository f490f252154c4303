@testable import Continual
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
        _ = try w.session.writer.addStage(set1)
        _ = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
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
        let written = try w.session.writer.addStage(partial)
        #expect(written.snapshot.run == RunTag(shots: 2, seed: 1) && written.snapshot.parent == nil && !written.newlyRegistered)

        let request = SweepRequest(dataset: "pets", shots: [2], seeds: [1, 2], methods: [.lamm], configurations: [.lamm: configuration])
        let result = try w.session.writer.sweep(request)
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

    /// A run's training options are part of it: a finished run is not called complete, nor a
    /// stopped one finished, with other options; the sweep says which differ and trains nothing.
    @Test func aRunIsNeverContinuedOrSkippedWithOtherOptions() throws {
        let w = try Workspace()
        _ = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        _ = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        var configuration = LAMMConfiguration()
        configuration.epochs = 2
        let request = SweepRequest(dataset: "pets", shots: [2], seeds: [1], methods: [.coop], configurations: [.coop: configuration])
        let first = try w.session.writer.sweep(request)
        #expect(first.runs.map(\.status) == [.trained])
        let before = try w.store.contentDump()
        var other = configuration
        other.epochs = 4
        other.learningRate = 0.01
        for changed in [other, configuration] {
            var again = request
            again.configurations = [.coop: changed]
            if changed == configuration { again.trainingProtocol = .class }
            do {
                _ = try w.session.writer.sweep(again)
                Issue.record("a run with other options was called complete")
            } catch let error as ContinualError {
                guard case let .runOptionsDiffer(method, shots, seed, _, snapshot, differences) = error else { throw error }
                #expect(method == "coop" && shots == 2 && seed == 1 && snapshot == first.runs[0].snapshots[0])
                if changed == other {
                    #expect(differences == [OptionDifference(option: "--epochs", stored: "2", requested: "4"),
                                            OptionDifference(option: "--lr", stored: "0.002", requested: "0.01")])
                    #expect("\(error)".contains("with --epochs 2, --lr 0.002; this sweep gives --epochs 4, --lr 0.01"))
                } else {
                    #expect(differences == [OptionDifference(option: "--protocol", stored: "task", requested: "class")])
                }
            }
        }
        #expect(try w.store.contentDump() == before)
        // The same options: complete, nothing trained; a new seed with other options is a new run.
        #expect(try w.session.writer.sweep(request).runs.map(\.status) == [.skipped])
        var newSeed = request
        newSeed.seeds = [2]
        newSeed.configurations = [.coop: other]
        #expect(try w.session.writer.sweep(newSeed).runs.map(\.status) == [.trained])
    }
}
