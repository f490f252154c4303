import Foundation
import Methods

// The sweep grid as a work queue shared by every `lamm-store sweep` on one store
// (Migrations/0010_run_claim.sql): runs are enrolled, claimed one at a time under a lease that
// the claimer renews while it trains, and finished done or failed. On PostgreSQL a claim is
// SELECT ... FOR UPDATE SKIP LOCKED, so workers on many machines neither wait for each other
// nor take the same run; on SQLite it is made under the database's one write lock.

/// One run of a sweep grid: a lineage of a method on a dataset's stages.
public struct GridRun: Hashable, Sendable, Codable, CustomStringConvertible {
    public var dataset: String
    public var method: Method
    public var run: RunTag

    public init(dataset: String, method: Method, run: RunTag) {
        self.dataset = dataset
        self.method = method
        self.run = run
    }

    public var description: String { "\(dataset): \(method.rawValue), \(run)" }
}

public enum ClaimState: String, Codable, Sendable {
    case waiting, running, done, failed
}

/// A claim row as stored.
public struct RunClaimRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "run_claim"
    public var id: Int64?
    public var datasetId: Int64
    public var method: Method
    public var run: String
    public var state: ClaimState
    public var worker: String?
    public var claimedAt: Double?
    public var heartbeatAt: Double?
    public var leaseSeconds: Double?
    public var attempts: Int
    public var finishedAt: Double?
    public var seconds: Double?
    public var message: String?
}

/// A run this worker holds.
public struct ClaimedRun: Sendable, Equatable {
    public var id: Int64
    public var run: GridRun
    public var worker: String
    /// 1 for the first claim; more when the run is taken over from a worker whose lease ended.
    public var attempt: Int
    /// The worker whose lease had ended, when the run is taken over.
    public var takenOverFrom: String?
}

/// The worker that holds a claim, for a commit to check that it still does.
public struct ClaimHolder: Sendable, Equatable {
    public var id: Int64
    public var worker: String

    public init(id: Int64, worker: String) {
        self.id = id
        self.worker = worker
    }
}

/// What a worker asking for a run is given.
public enum ClaimOutcome: Sendable, Equatable {
    case claimed(ClaimedRun)
    /// Nothing is free; `running` runs of the grid are held by live leases (nothing left to do
    /// when 0).
    case noneFree(running: Int)
}

/// A run of the grid as `sweep --status` shows it.
public struct RunClaimStatus: Sendable, Equatable {
    public var run: GridRun
    public var record: RunClaimRecord?
    /// The database's clock when read.
    public var now: Double

    /// Seconds since the holder's last heartbeat.
    public var leaseAge: Double? { record?.heartbeatAt.map { now - $0 } }
    /// A running claim whose lease has ended: its worker is gone.
    public var leaseExpired: Bool {
        guard let record, record.state == .running, let age = leaseAge, let lease = record.leaseSeconds else { return false }
        return age > lease
    }
}

extension LabelStore {
    /// Adds the runs not in the queue yet as waiting, and returns every run's claim id. A run
    /// of a dataset the store does not have is an error, before anything is written.
    @discardableResult
    public func enrol(_ runs: [GridRun]) throws -> [GridRun: Int64] {
        try write(datasets: []) { db in
            var ids: [GridRun: Int64] = [:]
            var datasets: [String: Int64] = [:]
            for run in runs {
                if datasets[run.dataset] == nil {
                    guard let dataset = try Self.dataset(db, named: run.dataset) else {
                        throw StoreError.unknownDataset(name: run.dataset, known: try Self.datasetNames(db))
                    }
                    datasets[run.dataset] = dataset.id!
                }
                let datasetId = datasets[run.dataset]!
                try db.execute("INSERT INTO run_claim (dataset_id, method, run, state) VALUES (?, ?, ?, 'waiting') ON CONFLICT DO NOTHING",
                               [datasetId, run.method, run.run.json])
                ids[run] = try db.scalar(Int64.self, "SELECT id FROM run_claim WHERE dataset_id = ? AND method = ? AND run = ?",
                                         [datasetId, run.method, run.run.json])
            }
            return ids
        }
    }

    /// Claims the first run of `runs` (claim ids from `enrol`, in order) that is waiting, or
    /// running under a lease that has ended, for `worker` with a lease of `lease` seconds.
    public func claimRun(among runs: [GridRun: Int64], worker: String, lease: Double) throws -> ClaimOutcome {
        let byId = Dictionary(uniqueKeysWithValues: runs.map { ($0.value, $0.key) })
        let ids = "[" + runs.values.sorted().map(String.init).joined(separator: ",") + "]"
        return try write(datasets: []) { db in
            let now = db.dialect.epochNow
            let free = try db.fetchOne(RunClaimRecord.self, """
                SELECT * FROM run_claim WHERE \(db.dialect.isAmongJSONIntegers("id"))
                AND (state = 'waiting' OR (state = 'running' AND heartbeat_at + lease_seconds < \(now)))
                ORDER BY id LIMIT 1\(db.dialect.forUpdateSkipLocked)
                """, [ids])
            guard let free, let run = byId[free.id!] else {
                let running = try db.scalar(Int.self, """
                    SELECT COUNT(*) FROM run_claim WHERE \(db.dialect.isAmongJSONIntegers("id")) AND state = 'running'
                    """, [ids]) ?? 0
                return .noneFree(running: running)
            }
            try db.execute("""
                UPDATE run_claim SET state = 'running', worker = ?, claimed_at = \(now), heartbeat_at = \(now),
                lease_seconds = ?, attempts = attempts + 1, message = NULL WHERE id = ?
                """, [worker, lease, free.id!])
            return .claimed(ClaimedRun(id: free.id!, run: run, worker: worker, attempt: free.attempts + 1,
                                       takenOverFrom: free.state == .running ? free.worker : nil))
        }
    }

    /// Renews the lease of a claim `worker` holds; false when it no longer holds it (another
    /// worker took the run over after the lease ended).
    public func renewClaim(_ holder: ClaimHolder) throws -> Bool {
        try write(datasets: []) { db in try Self.renewClaim(db, holder) }
    }

    static func renewClaim(_ db: any StoreDatabase, _ holder: ClaimHolder) throws -> Bool {
        !(try db.rows("""
            UPDATE run_claim SET heartbeat_at = \(db.dialect.epochNow) WHERE id = ? AND worker = ? AND state = 'running' RETURNING id
            """, [holder.id, holder.worker])).isEmpty
    }

    /// Ends a claim `worker` holds: done, or failed with the reason. False when it no longer
    /// holds it.
    @discardableResult
    public func finishClaim(_ holder: ClaimHolder, state: ClaimState, seconds: Double, message: String? = nil) throws -> Bool {
        precondition(state == .done || state == .failed, "a claim ends done or failed")
        return try write(datasets: []) { db in
            !(try db.rows("""
                UPDATE run_claim SET state = ?, finished_at = \(db.dialect.epochNow), seconds = ?, message = ?
                WHERE id = ? AND worker = ? AND state = 'running' RETURNING id
                """, [state.rawValue, seconds, message, holder.id, holder.worker])).isEmpty
        }
    }

    /// Puts the failed runs among `ids` back to waiting, for another try.
    public func retryFailedClaims(_ ids: [Int64]) throws {
        let list = "[" + ids.sorted().map(String.init).joined(separator: ",") + "]"
        try write(datasets: []) { db in
            try db.execute("UPDATE run_claim SET state = 'waiting', message = NULL WHERE \(db.dialect.isAmongJSONIntegers("id")) AND state = 'failed'", [list])
        }
    }

    /// The queue's state of each of `runs`, read at one instant of the database's clock.
    public func claimStatus(of runs: [GridRun]) throws -> [RunClaimStatus] {
        try read { db in
            let now = try db.scalar(Double.self, "SELECT \(db.dialect.epochNow)") ?? 0
            var datasets: [String: Int64?] = [:]
            return try runs.map { run in
                if datasets[run.dataset] == nil { datasets[run.dataset] = try Self.dataset(db, named: run.dataset)?.id }
                let record = try datasets[run.dataset]!.flatMap { datasetId in
                    try db.fetchOne(RunClaimRecord.self, "SELECT * FROM run_claim WHERE dataset_id = ? AND method = ? AND run = ?",
                                    [datasetId, run.method, run.run.json])
                }
                return RunClaimStatus(run: run, record: record, now: now)
            }
        }
    }
}
