import Demo
import Foundation
import Reports
import Store
import Testing

/// The synthetic shifted-label task of the demo, with every method.
@Suite struct DemoWorkflowTests {
    @Test func lammBeatsZeroShotAndForgetsNothingWhileCoOpForgets() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try DemoWorkflow(directory: directory).run()
        let byMethod = Dictionary(uniqueKeysWithValues: result.comparison.datasets[0].methods.map { ($0.method, $0) })
        let lamm = try #require(byMethod[.lamm]), coop = try #require(byMethod[.coop]), both = try #require(byMethod[.coopLAMM])
        // LAMM well above zero-shot CLIP on every stage.
        for (k, stage) in lamm.stages.enumerated() {
            #expect(stage.afterOwnTraining! >= result.zeroShot[k] + 25, "\(stage.stage): LAMM \(stage.afterOwnTraining!) vs zero-shot \(result.zeroShot[k])")
        }
        // Degradation of Set1: exactly 0 for LAMM, negative for CoOp. CoOp+LAMM's shared context
        // forgets too, but its own label vectors keep more of Set1 than CoOp keeps.
        #expect(lamm.stages[0].degradation == 0)
        let coopDrop = try #require(coop.stages[0].degradation), bothDrop = try #require(both.stages[0].degradation)
        #expect(coopDrop < 0 && bothDrop < 0)
        let kept = (lamm: lamm.stages[0].afterLastStage!, coop: coop.stages[0].afterLastStage!, both: both.stages[0].afterLastStage!)
        #expect(kept.coop < kept.both && kept.both < kept.lamm, "Set1 after Set2: CoOp \(kept.coop), CoOp+LAMM \(kept.both), LAMM \(kept.lamm)")
        #expect(lamm.metrics.forgetting == 0 && coop.metrics.forgetting! > 0)
        // compare's numbers are eval's.
        for evaluation in result.evaluations {
            let method = try #require(byMethod[evaluation.method])
            #expect(method.snapshots.last == evaluation.snapshot)
            for (k, stage) in evaluation.stages.enumerated() {
                #expect(method.stages[k].afterLastStage == stage.accuracy)
                #expect(method.stages[k].afterOwnTraining == stage.accuracyWhenTrained)
                #expect(method.stages[k].degradation == stage.degradation)
            }
        }
        #expect(FileManager.default.fileExists(atPath: result.report))
        let store = try LabelStore.open(path: result.store, access: .write)
        defer { try? store.close() }
        #expect(try store.verify().ok)
    }
}
