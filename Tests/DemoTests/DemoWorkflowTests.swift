import Continual
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
        #expect(result.comparison.datasets.map(\.dataset) == [DemoWorkflow.featureDataset, DemoWorkflow.imageDataset])
        let byMethod = Dictionary(uniqueKeysWithValues: result.comparison.datasets[0].methods.map { ($0.method, $0) })
        #expect(byMethod[.maple] == nil, "MaPLe needs pictures: it runs on the image task only")
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
        #expect(result.evaluations.count == 3 + 5)
        for evaluation in result.evaluations {
            let dataset = try #require(result.comparison.datasets.first { $0.dataset == evaluation.dataset })
            let method = try #require(dataset.methods.first { $0.method == evaluation.method })
            #expect(method.snapshots.last == evaluation.snapshot)
            for (k, stage) in evaluation.stages.enumerated() {
                #expect(method.stages[k].afterLastStage == stage.accuracy)
                #expect(method.stages[k].afterOwnTraining == stage.accuracyWhenTrained)
                #expect(method.stages[k].degradation == stage.degradation)
            }
        }
        #expect(FileManager.default.fileExists(atPath: result.report))
        // The report's material: each trainer snapshot's loss curve, and the classes CoOp forgot.
        #expect(lamm.lossCurves.map(\.epochs.count) == [50, 50] && lamm.lossCurves.map(\.snapshot) == lamm.snapshots)
        let forgotten = try #require(coop.classChanges.first)
        #expect(forgotten.stage == "Set1" && forgotten.classes.count == 10 && forgotten.classes[0].change < 0)
        #expect(forgotten.classes.map(\.change) == forgotten.classes.map(\.change).sorted())
        #expect(lamm.classChanges.first?.classes.allSatisfy { $0.change == 0 } == true)
        let page = try String(contentsOfFile: result.report, encoding: .utf8)
        #expect(page.contains("Loss curves") && page.contains("Classes that forgot most"))

        // The image task: every method, MaPLe included, from pictures the checkpoint's image
        // tower encodes. Zero-shot CLIP is mediocre there; LAMM, CoOp and MaPLe each learn above
        // it on both stages; LAMM forgets nothing, the shared prompts of CoOp and MaPLe forget.
        let images = result.comparison.datasets[1]
        #expect(images.methods.map(\.method) == [.lamm, .coop, .coopLAMM, .maple, .mapleLAMM])
        let zeroShot = images.zeroShot.map { $0! }
        #expect(zeroShot.allSatisfy { $0 >= 15 && $0 <= 60 }, "zero-shot CLIP on the pictures: \(zeroShot)")
        for method in images.methods {
            for (k, stage) in method.stages.enumerated() {
                #expect(stage.afterOwnTraining! > zeroShot[k], "\(method.method.rawValue) \(stage.stage): \(stage.afterOwnTraining!) vs zero-shot \(zeroShot[k])")
            }
            if method.method == .lamm {
                #expect(method.stages[0].degradation == 0 && method.metrics.forgetting == 0)
            } else {
                #expect(method.stages[0].degradation! < 0, "\(method.method.rawValue) Set1 degradation \(method.stages[0].degradation!)")
            }
        }
        let store = try LabelStore.open(path: result.store, access: .write)
        defer { try? store.close() }
        #expect(try store.verify().ok)

        // Every trained snapshot of the demo, all five methods on the image task, retrained from
        // its manifest comes out bit-identical, and the store is only read.
        let before = try store.contentDump()
        let session = try ContinualSession(store: store)
        let snapshots = try store.snapshots()
        #expect(snapshots.count == 2 * 3 + 2 * 5)
        for snapshot in snapshots {
            let report = try session.reproduce(snapshot: snapshot.id)
            #expect(report.identical && report.sameTrainingRows && report.values > 0 && report.differences.isEmpty,
                    "snapshot \(snapshot.id) (\(snapshot.dataset), \(snapshot.method.rawValue), \(snapshot.stage)): \(report.differences)")
        }
        #expect(try store.contentDump() == before)
    }
}
