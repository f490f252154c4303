@testable import Continual
import Foundation
import Synchronization
import Methods
import Store
import Testing
import Training

/// The sweep grid as a queue shared by workers (RunClaims): claims are exclusive, a lease that
/// ends frees its run for another worker, a stale worker's commit writes nothing, a run that
/// fails is marked failed and not tried again, and workers on one store split a grid with every
/// run trained once. On both backends; workers are sessions of their own on the store, as other
/// processes would open it.
@Suite struct SweepClaimTests {
    func petsWorkspace(_ backend: Backend) throws -> Workspace {
        let w = try Workspace(backend: backend)
        _ = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        _ = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        return w
    }

    func request(shots: [Int] = [2], seeds: [UInt64] = [1], methods: [Method] = [.lamm], worker: String) -> SweepRequest {
        var configuration = LAMMConfiguration()
        configuration.epochs = 2
        var request = SweepRequest(dataset: "pets", shots: shots, seeds: seeds, methods: methods,
                                   configurations: Dictionary(uniqueKeysWithValues: methods.map { ($0, configuration) }))
        request.worker = worker
        return request
    }

    @Test(arguments: Backend.underTest) func aClaimIsExclusiveUntilItsLeaseEnds(backend: Backend) throws {
        let w = try petsWorkspace(backend)
        let other = try w.anotherSession().store
        let runs = [GridRun(dataset: "pets", method: .lamm, run: RunTag(shots: 2, seed: 1)),
                    GridRun(dataset: "pets", method: .coop, run: RunTag(shots: 2, seed: 1, variant: "no-hl"))]
        let ids = try w.store.enrol(runs)
        #expect(try other.enrol(runs) == ids, "enrolling again adds nothing")
        guard case let .claimed(first) = try w.store.claimRun(among: ids, worker: "a", lease: 1.5) else { throw Failure("no claim") }
        guard case let .claimed(second) = try other.claimRun(among: ids, worker: "b", lease: 60) else { throw Failure("no claim") }
        #expect(first.run == runs[0] && second.run == runs[1] && first.attempt == 1 && first.takenOverFrom == nil)
        #expect(try other.claimRun(among: ids, worker: "b", lease: 60) == .noneFree(running: 2))
        // Renewed, the lease holds; left alone, it ends and the run is b's to take over.
        Thread.sleep(forTimeInterval: 1)
        #expect(try w.store.renewClaim(ClaimHolder(id: first.id, worker: "a")))
        Thread.sleep(forTimeInterval: 1)
        #expect(try other.claimRun(among: ids, worker: "b", lease: 60) == .noneFree(running: 2))
        Thread.sleep(forTimeInterval: 1)
        let status = try other.claimStatus(of: runs)
        #expect(status[0].leaseExpired && !status[1].leaseExpired)
        guard case let .claimed(takeover) = try other.claimRun(among: ids, worker: "b", lease: 60) else { throw Failure("no takeover") }
        #expect(takeover.run == runs[0] && takeover.attempt == 2 && takeover.takenOverFrom == "a")
        // a no longer holds it: its heartbeat and its end are refused.
        #expect(try !w.store.renewClaim(ClaimHolder(id: first.id, worker: "a")))
        #expect(try !w.store.finishClaim(ClaimHolder(id: first.id, worker: "a"), state: .done, seconds: 1))
        #expect(try other.finishClaim(ClaimHolder(id: takeover.id, worker: "b"), state: .done, seconds: 1))
        #expect(try other.finishClaim(ClaimHolder(id: second.id, worker: "b"), state: .failed, seconds: 1, message: "diverged"))
        #expect(try w.store.claimRun(among: ids, worker: "a", lease: 60) == .noneFree(running: 0))
        try w.store.retryFailedClaims(Array(ids.values))
        guard case let .claimed(retry) = try w.store.claimRun(among: ids, worker: "a", lease: 60) else { throw Failure("no retry") }
        #expect(retry.run == runs[1] && retry.attempt == 2)
    }

    /// A worker whose lease ended while it trained (a paused machine) commits nothing: the stage
    /// belongs to the worker that took the run over.
    @Test(arguments: Backend.underTest) func aStaleWorkersCommitWritesNothing(backend: Backend) throws {
        let w = try petsWorkspace(backend)
        let stale = w.session.writer
        let run = GridRun(dataset: "pets", method: .lamm, run: RunTag(shots: 2, seed: 1))
        var add = try w.stage("set1", classes: ["dog", "cat"])
        add.stage = "Set1"
        add.data = try w.store.registeredStageData(stage: try w.store.stage(dataset: "pets", name: "Set1")!.id!)
        add.run = run.run
        let ids = try w.store.enrol([run])
        guard case let .claimed(claim) = try w.store.claimRun(among: ids, worker: "stale", lease: 1) else { throw Failure("no claim") }
        add.claim = ClaimHolder(id: claim.id, worker: "stale")
        let other = try w.anotherSession().store
        stale.hooks.beforeCommit = {
            Thread.sleep(forTimeInterval: 1.5)
            guard case .claimed = try other.claimRun(among: ids, worker: "fresh", lease: 60) else { throw Failure("no takeover") }
        }
        let before = try w.store.contentDump()
        #expect(throws: StoreError.self) { _ = try stale.addStage(add) }
        do {
            stale.hooks.beforeCommit = nil
            _ = try stale.addStage(add)
            Issue.record("a worker that lost its claim committed")
        } catch let error as StoreError {
            guard case .claimLost(_, _, _, let worker) = error else { throw error }
            #expect(worker == "stale" && "\(error)".contains("--lease"))
        }
        // Only the claim changed hands; no snapshot was written.
        let after = try w.store.contentDump()
        #expect(before.split(separator: "\n").filter { !$0.hasPrefix("run_claim") } == after.split(separator: "\n").filter { !$0.hasPrefix("run_claim") })
    }

    /// Three workers on one store split a grid: every run trained once, each lineage linear.
    @Test(arguments: Backend.underTest) func workersSplitAGridAndTrainEachRunOnce(backend: Backend) throws {
        let w = try petsWorkspace(backend)
        nonisolated(unsafe) let sessions = [w.session] + (try (0..<2).map { _ in try w.anotherSession() })
        let results = Mutex<[SweepResult]>([])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            do {
                let result = try sessions[k].writer.sweep(request(shots: [1, 2], seeds: [1, 2], methods: [.lamm, .coop], worker: "w\(k)"))
                results.withLock { $0.append(result) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let all = results.withLock { $0 }
        #expect(all.count == 3)
        // Every run is trained by exactly one worker; the others report it trained elsewhere (or
        // complete already, when it was so before they started).
        for index in 0..<8 {
            let statuses = all.map { $0.runs[index].status }
            #expect(statuses.filter { $0 == .trained }.count == 1 && statuses.allSatisfy { [.trained, .elsewhere, .skipped].contains($0) }, "\(statuses)")
            #expect(Set(all.map { $0.runs[index].snapshots }).count == 1)
            // No worker trained a stage that another had committed first (its commit would fail).
            #expect(all.allSatisfy { $0.runs[index].message == nil }, "\(all.map { $0.runs[index].message })")
        }
        let snapshots = try w.store.snapshots(dataset: "pets")
        #expect(snapshots.count == 2 + 8 * 2)
        for run in all[0].runs {
            let lineage = snapshots.filter { $0.run?.shots == run.shots && $0.run?.seed == run.seed && $0.method == run.method }
            #expect(lineage.map(\.stage) == ["Set1", "Set2"] && lineage[1].parent == lineage[0].id)
        }
        #expect(try w.store.verify().ok)
        let status = try SweepStatus(grid: StageWriter.grid(request(shots: [1, 2], seeds: [1, 2], methods: [.lamm, .coop], worker: "x"),
                                                            store: w.store), store: w.store)
        #expect(status.done == 8 && status.running == 0 && status.waiting == 0 && status.estimatedSecondsLeft == 0)
    }

    /// A run that fails for a reason of its own is marked failed with its message, the sweep
    /// goes on with the others, and a later sweep does not try it again unless asked.
    @Test func aFailingRunIsMarkedFailedAndNotRetried() throws {
        let w = try petsWorkspace(.sqlite)
        var request = request(seeds: [1, 2], worker: "w")
        w.session.writer.hooks.beforeCommit = { throw TrainingError.outOfRange(option: "the test", value: "diverged", allowed: "finite losses") }
        let first = try w.session.writer.sweep(request)
        #expect(first.runs.map(\.status) == [.failed, .failed])
        #expect(first.runs[0].message?.contains("diverged") == true)
        w.session.writer.hooks.beforeCommit = nil
        #expect(try w.session.writer.sweep(request).runs.map(\.status) == [.failed, .failed])
        request.retryFailed = true
        #expect(try w.session.writer.sweep(request).runs.map(\.status) == [.trained, .trained])
    }

    /// Variants are part of a run's identity and change only the methods with label vectors.
    @Test func variantsAreRunsOfTheirOwn() throws {
        let w = try petsWorkspace(.sqlite)
        var request = request(methods: [.lamm, .coop], worker: "w")
        request.variants = [.full, .noHL, .randomInit]
        let grid = try StageWriter.grid(request, store: w.store)
        #expect(grid.runs.map { "\($0.method.rawValue) \($0.run.variant ?? "full")" } == ["lamm full", "lamm no-hl", "lamm random-init", "coop full"])
        #expect(request.configuration(.lamm, grid.runs[1].run).lambdaCOS == 0 && request.configuration(.lamm, grid.runs[1].run).lambdaWC == 0)
        #expect(request.configuration(.lamm, grid.runs[2].run).labelInitialisation == .random)
        let result = try w.session.writer.sweep(request)
        #expect(result.runs.map(\.status) == [.trained, .trained, .trained, .trained])
        let runs = Set(try w.store.snapshots(dataset: "pets").compactMap(\.run))
        #expect(runs == [RunTag(shots: 2, seed: 1), RunTag(shots: 2, seed: 1, variant: "no-hl"), RunTag(shots: 2, seed: 1, variant: "random-init")])
        #expect(RunTag(shots: 2, seed: 1).json == #"{"seed":1,"shots":2}"#, "full runs keep the tag they had before variants")
        // A variant no method of the grid can train is refused before anything is written.
        var coopOnly = request
        coopOnly.methods = [.coop]
        coopOnly.variants = [.noKD]
        let before = try w.store.contentDump()
        #expect(throws: TrainingError.self) { _ = try w.session.writer.sweep(coopOnly) }
        #expect(try w.store.contentDump() == before)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
