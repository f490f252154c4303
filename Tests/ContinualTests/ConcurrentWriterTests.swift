@testable import Continual
import Foundation
import Methods
@testable import Store
import Testing

/// Two writers of one dataset, interleaved exactly by the session's hooks: another writer
/// commits while this one plans (`planning`) or trains (`beforeCommit`). The record never
/// lies: a snapshot is written only onto the store state it was planned and trained on.
@Suite struct ConcurrentWriterTests {
    func request(_ w: Workspace, _ file: String, _ classes: [String], stage: String, method: Method, seed: UInt64) throws -> AddStageRequest {
        var request = try w.stage(file, classes: classes, seed: seed)
        request.stage = stage
        request.method = method
        request.configuration.epochs = 3
        return request
    }

    func planChange(_ error: any Error) -> String? {
        guard case let StoreError.planChangedMeanwhile(_, _, change) = error else { return nil }
        return change
    }

    @Test(arguments: Backend.underTest)
    func aStageTrainedWhileItsLineageGrewIsNotWrittenAndRunsAgainOnTheNewParent(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        let first = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .coop, seed: 1))
        let set2 = try request(w, "set2", ["fish", "frog"], stage: "Set2", method: .coop, seed: 2)
        let set3 = try request(w, "set3", ["owl", "bee"], stage: "Set3", method: .coop, seed: 3)
        // Set3 is planned and trained from Set1's snapshot; Set2 lands meanwhile.
        let other = try w.anotherSession()
        var second: AddStageResult?
        var storeBeforeCommit = ""
        w.session.writer.hooks.beforeCommit = {
            second = try other.writer.addStage(set2)
            storeBeforeCommit = try w.store.contentDump()
        }
        do {
            _ = try w.session.writer.addStage(set3)
            Issue.record("Set3 was written onto a lineage it was not trained on")
        } catch {
            let change = try #require(planChange(error), "\(error)")
            #expect(change.contains("snapshot \(second!.snapshot.id) (stage Set2)"))
            #expect(change.contains("trained from snapshot \(first.snapshot.id)"))
            #expect("\(error)".contains("Run the command again"))
        }
        #expect(try w.store.contentDump() == storeBeforeCommit)
        #expect(try w.store.snapshots(dataset: "pets").map(\.stage) == ["Set1", "Set2"])

        // Run again, it trains from Set2's snapshot, its context included.
        w.session.writer.hooks = .init()
        let third = try w.session.writer.addStage(set3)
        #expect(third.snapshot.parent == second!.snapshot.id)
        #expect(third.registration.position == 2)
        #expect(try w.store.verify().ok)
    }

    @Test(arguments: Backend.underTest)
    func aStagePlannedBeforeAnotherStageWasRegisteredIsNotWrittenAtAnotherPosition(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        _ = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .lamm, seed: 1))
        _ = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .coop, seed: 1))
        // LAMM's Set3 is planned as the dataset's second stage; CoOp registers Set2 meanwhile, so
        // LAMM's lineage is unchanged but Set3 would be the third stage.
        let other = try w.anotherSession()
        w.session.writer.hooks.beforeCommit = { _ = try other.writer.addStage(try self.request(w, "set2", ["fish", "frog"], stage: "Set2", method: .coop, seed: 2)) }
        let before = try w.store.snapshots(dataset: "pets").count
        do {
            _ = try w.session.writer.addStage(try request(w, "set3", ["owl", "bee"], stage: "Set3", method: .lamm, seed: 3))
            Issue.record("Set3 was written at a position it was not planned at")
        } catch {
            let change = try #require(planChange(error), "\(error)")
            #expect(change.contains("would be its stage 3, where it was planned as stage 2"))
        }
        #expect(try w.store.snapshots(dataset: "pets").count == before + 1)
        #expect(try w.store.stage(dataset: "pets", name: "Set3") == nil)
        #expect(try w.store.verify().ok)
    }

    @Test(arguments: Backend.underTest)
    func aSameStageWriterPlansFromOneStateAndReusesTheStageRegisteredMeanwhile(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        let lamm1 = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .lamm, seed: 1))
        let coop1 = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .coop, seed: 1))
        // While CoOp's Set2 is planned (between its stage and parent look-ups), LAMM registers
        // the same Set2 and commits.
        let other = try w.anotherSession()
        var lamm2: AddStageResult?
        w.session.writer.hooks.planning = { lamm2 = try other.writer.addStage(try self.request(w, "set2", ["fish", "frog"], stage: "Set2", method: .lamm, seed: 2)) }
        let coop2 = try w.session.writer.addStage(try request(w, "set2", ["fish", "frog"], stage: "Set2", method: .coop, seed: 2))
        #expect(lamm2?.newlyRegistered == true)
        #expect(!coop2.newlyRegistered)
        #expect(coop2.registration.stageId == lamm2?.registration.stageId)
        #expect(coop2.snapshot.parent == coop1.snapshot.id && lamm2?.snapshot.parent == lamm1.snapshot.id)
        #expect(try w.store.stages(of: try w.store.resolveDataset("pets").id!).map(\.name) == ["Set1", "Set2"])
        #expect(try w.store.verify().ok)
    }

    @Test(arguments: Backend.underTest)
    func aStageRegisteredMeanwhileWithOtherContentIsNotReused(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        _ = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .lamm, seed: 1))
        _ = try w.session.writer.addStage(try request(w, "set1", ["dog", "cat"], stage: "Set1", method: .coop, seed: 1))
        let other = try w.anotherSession()
        w.session.writer.hooks.beforeCommit = { _ = try other.writer.addStage(try self.request(w, "set2b", ["hen", "cow"], stage: "Set2", method: .lamm, seed: 4)) }
        let before = try w.store.snapshots(dataset: "pets").count
        #expect(throws: StoreError.stageChangedMeanwhile(dataset: "pets", stage: "Set2")) {
            try w.session.writer.addStage(try self.request(w, "set2", ["fish", "frog"], stage: "Set2", method: .coop, seed: 2))
        }
        #expect(try w.store.snapshots(dataset: "pets").count == before + 1)
    }
}
