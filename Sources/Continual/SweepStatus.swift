// `sweep --status`: where a grid stands in the store, read without a model and without
// taking a claim: each run done, running (which worker, since when, how old its lease is),
// failed (why) or waiting, and the time left estimated from the runs done so far.

import Foundation
import Methods
import Store

public struct SweepStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case done, running, failed, waiting
    }

    public struct Run: Codable, Sendable, Equatable {
        public var dataset: String
        public var method: Method
        public var variant: Variant
        public var shots: Int
        public var seed: UInt64
        public var state: State
        /// Stages committed, of the dataset's stages.
        public var stagesDone: Int
        public var stages: Int
        public var worker: String?
        /// Seconds since the run was claimed, and since its last heartbeat.
        public var claimedSecondsAgo: Double?
        public var leaseAgeSeconds: Double?
        /// A running claim whose lease has ended: its worker is gone, and the next worker to
        /// ask takes the run over.
        public var leaseExpired: Bool
        public var attempts: Int
        /// Wall time of a finished run's training.
        public var seconds: Double?
        public var message: String?
    }

    public var runs: [Run]
    public var done: Int
    public var running: Int
    public var failed: Int
    public var waiting: Int
    /// Workers holding live leases now.
    public var workers: [String]
    /// (runs left) x (mean time of a run done so far) / (live workers, at least 1); nil before
    /// any run is done.
    public var estimatedSecondsLeft: Double?

    /// The state of every run of `grid` in `store`.
    public init(grid: SweepGrid, store: LabelStore) throws {
        let (claims, summaries) = try store.consistentRead {
            (try store.claimStatus(of: grid.runs),
             try Dictionary(uniqueKeysWithValues: grid.datasets.map { ($0, try store.snapshots(dataset: $0)) }))
        }
        runs = zip(grid.runs, claims).map { run, claim in
            let stages = grid.stages[run.dataset]!
            let lineage = summaries[run.dataset]!.filter { $0.method == run.method && $0.run == run.run }
            let committed = stages.prefix { stage in lineage.contains { $0.stage == stage.name } }.count
            let record = claim.record
            var state: State
            switch record?.state {
            case .running?: state = .running
            case .failed?: state = .failed
            case .done?: state = .done
            case .waiting?, nil: state = committed == stages.count ? .done : .waiting
            }
            if state == .done && committed < stages.count { state = .waiting }
            return Run(dataset: run.dataset, method: run.method, variant: Variant(tag: run.run.variant) ?? .full, shots: run.run.shots,
                       seed: run.run.seed, state: state, stagesDone: committed, stages: stages.count,
                       worker: state == .waiting ? nil : record?.worker, claimedSecondsAgo: record?.claimedAt.map { claim.now - $0 },
                       leaseAgeSeconds: state == .running ? claim.leaseAge : nil, leaseExpired: claim.leaseExpired,
                       attempts: record?.attempts ?? 0, seconds: record?.seconds, message: record?.message)
        }
        let states = runs.map(\.state)
        func count(_ state: State) -> Int { states.filter { $0 == state }.count }
        (done, running, failed, waiting) = (count(.done), count(.running), count(.failed), count(.waiting))
        workers = Array(Set(runs.filter { $0.state == .running && !$0.leaseExpired }.compactMap(\.worker))).sorted()
        let times = runs.filter { $0.state == .done }.compactMap(\.seconds)
        estimatedSecondsLeft = times.isEmpty ? nil
            : Double(waiting + running) * times.reduce(0, +) / Double(times.count) / Double(max(workers.count, 1))
    }
}
