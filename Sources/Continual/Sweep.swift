// The paper's few-shot experiments (LAMM.md, Table 3: n = 1, 2, 4, 8, 16 shots, seeds 1, 2, 3):
// one lineage per method, shot count and seed, trained on a dataset's registered stages in
// order. Each run's snapshots carry its RunTag, so runs never become each other's parents, and
// each stage is written as soon as it is trained: a sweep that is stopped keeps what it wrote,
// and the next one skips the runs that are complete and continues the others.

import Formats
import Foundation
import Methods
import Store
import Training

public struct SweepRequest: Sendable {
    /// nil: the store's only dataset.
    public var datasets: [String]?
    public var shots: [Int]
    public var seeds: [UInt64]
    public var methods: [Method]
    /// The paper's ablations to train (Variant); the methods without label vectors run `full` only.
    public var variants: [Variant] = [.full]
    /// Every other training option (the methods' own defaults apply where `configurations`
    /// gives none).
    public var configurations: [Method: LAMMConfiguration]
    public var trainingProtocol: Protocol
    /// Seconds a claim stays this worker's without a heartbeat; the heartbeat comes every
    /// quarter of it while a run trains.
    public var lease: Double = 120
    /// The name this worker's claims carry (host:pid by default).
    public var worker: String = SweepRequest.defaultWorker
    /// Whether to wait, when no run is free, for the runs other workers hold, taking over
    /// those whose leases end; false returns at once.
    public var waitForOthers = true
    /// Gives the grid's failed runs another try.
    public var retryFailed = false
    /// Called after each stage a run commits, so that tests can stop a worker at a known point.
    public var afterStageCommit: (@Sendable (GridRun, String) -> Void)?

    public init(dataset: String?, shots: [Int], seeds: [UInt64], methods: [Method],
                configurations: [Method: LAMMConfiguration] = [:], trainingProtocol: Protocol = .task) {
        self.datasets = dataset.map { [$0] }
        self.shots = shots
        self.seeds = seeds
        self.methods = methods
        self.configurations = configurations
        self.trainingProtocol = trainingProtocol
    }

    public static var defaultWorker: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The training options of one run: the method's, the variant's changes, its shots and seed.
    public func configuration(_ method: Method, _ run: RunTag) -> LAMMConfiguration {
        var configuration = configurations[method] ?? LAMMConfiguration.defaults(for: method)
        configuration = (Variant(tag: run.variant) ?? .full).apply(to: configuration)
        configuration.shots = run.shots
        configuration.seed = run.seed
        return configuration
    }
}

/// One run of the grid and what the sweep did with it.
public struct SweepRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Every stage was already trained by an earlier sweep.
        case skipped
        /// This sweep trained the stages the run lacked.
        case trained
        /// Another worker trained it while this sweep ran.
        case elsewhere
        /// Its training failed for a reason of its own (divergence, bad data); not retried
        /// unless asked (--retry-failed).
        case failed
    }

    public var dataset: String
    public var method: Method
    public var variant: Variant
    public var shots: Int
    public var seed: UInt64
    public var status: Status
    /// The run's snapshot of each stage, in stage order.
    public var snapshots: [Int64]
    /// Stages this sweep trained.
    public var trainedStages: [String]
    /// Why it failed.
    public var message: String?
    /// The worker whose lease had ended when this sweep took the run over.
    public var takenOverFrom: String?
}

public struct SweepResult: Codable, Sendable, Equatable {
    public struct Dataset: Codable, Sendable, Equatable {
        public var name: String
        public var stages: [String]
    }

    public var worker: String
    public var datasets: [Dataset]
    public var runs: [SweepRun]
}

public enum SweepEvent: Sendable {
    /// A run's stage starts training.
    case run(index: Int, of: Int, run: GridRun, stage: String)
    case stage(AddStageEvent)
    /// A run this worker finished (trained, skipped or failed), or lost to another worker.
    case finished(SweepRun, done: Int, of: Int)
    /// No run is free; `running` are held by other workers.
    case waiting(running: Int)
}

/// The grid of a sweep request over the store: its runs in order, and each dataset's stages.
public struct SweepGrid: Sendable {
    public var runs: [GridRun]
    public var stages: [String: [StageRecord]]
    public var datasets: [String]
}

extension StageWriter {
    /// The runs of `request` (datasets x methods x variants x shots x seeds, a variant only for
    /// the methods it applies to), every value checked first.
    public static func grid(_ request: SweepRequest, store: LabelStore) throws -> SweepGrid {
        try validate(request)
        let datasets = try request.datasets ?? [store.resolveDataset(nil).name]
        var stages: [String: [StageRecord]] = [:]
        for name in datasets {
            let dataset = try store.resolveDataset(name)
            let registered = try store.stages(of: dataset.id!)
            guard !registered.isEmpty else { throw ContinualError.noStagesToSweep(dataset: name) }
            stages[name] = registered
        }
        let runs = datasets.flatMap { dataset in
            request.methods.flatMap { method in
                request.variants.filter { $0.applies(to: method) }.flatMap { variant in
                    request.shots.flatMap { shots in
                        request.seeds.map { GridRun(dataset: dataset, method: method, run: RunTag(shots: shots, seed: $0, variant: variant.tag)) }
                    }
                }
            }
        }
        return SweepGrid(runs: runs, stages: stages, datasets: datasets)
    }

    /// Trains the runs of the grid that no other worker holds, one at a time, each claimed in
    /// the store first (RunClaims): any number of sweeps of the same grid on one store split
    /// it, and no run is trained twice. A run continues from its last committed stage.
    public func sweep(_ request: SweepRequest, progress: ((SweepEvent) -> Void)? = nil) throws -> SweepResult {
        let grid = try Self.grid(request, store: store)
        // Every stage's data once, checked before any training.
        var data: [String: [StageData]] = [:]
        for dataset in grid.datasets {
            data[dataset] = try grid.stages[dataset]!.map { try store.registeredStageData(stage: $0.id!) }
        }
        for run in grid.runs { for stage in data[run.dataset]! { try requireImages(stage, method: run.method) } }

        // A run's training options are part of it: a run in the store with other options is
        // neither continued nor called complete with these (checked for every run first).
        var stored: [String: [SnapshotSummary]] = [:]
        for dataset in grid.datasets { stored[dataset] = try store.snapshots(dataset: dataset) }
        func snapshots(of run: GridRun, in summaries: [SnapshotSummary]) -> [Int64] {
            let existing = summaries.filter { $0.method == run.method && $0.run == run.run }
            var ids: [Int64] = []
            for stage in grid.stages[run.dataset]! {
                guard let id = existing.last(where: { $0.stage == stage.name })?.id else { break }
                ids.append(id)
            }
            return ids
        }
        var completeBefore = Set<GridRun>()
        for run in grid.runs {
            let summaries = stored[run.dataset]!
            if snapshots(of: run, in: summaries).count == grid.stages[run.dataset]!.count { completeBefore.insert(run) }
            guard let first = summaries.first(where: { $0.method == run.method && $0.run == run.run }) else { continue }
            let differences = try optionDifferences(stored: store.snapshotDetail(first.id).config,
                                                    requested: request.configuration(run.method, run.run), trainingProtocol: request.trainingProtocol)
            guard differences.isEmpty else {
                throw ContinualError.runOptionsDiffer(method: run.method.rawValue, shots: run.run.shots, seed: run.run.seed,
                                                      dataset: run.dataset, snapshot: first.id, differences: differences)
            }
        }

        let ids = try store.enrol(grid.runs)
        if request.retryFailed { try store.retryFailedClaims(Array(ids.values)) }
        var outcomes: [GridRun: SweepRun] = [:]
        var finished = 0
        while true {
            let outcome = try store.claimRun(among: ids, worker: request.worker, lease: request.lease)
            guard case let .claimed(claim) = outcome else {
                guard case let .noneFree(running) = outcome, running > 0, request.waitForOthers else { break }
                progress?(.waiting(running: running))
                // Often enough that the grid ends soon after the last run held elsewhere does.
                Thread.sleep(forTimeInterval: min(max(request.lease / 8, 0.2), 1))
                continue
            }
            let index = grid.runs.firstIndex(of: claim.run)!
            let result = try trainClaimed(claim, index: index, grid: grid, data: data[claim.run.dataset]!, request: request,
                                   existing: snapshots(of: claim.run, in: try store.snapshots(dataset: claim.run.dataset)),
                                   completeBefore: completeBefore.contains(claim.run), progress: progress)
            outcomes[claim.run] = result
            finished += 1
            progress?(.finished(result, done: finished, of: grid.runs.count))
        }

        // Runs this worker did not finish: complete before, trained by others, or failed.
        let states = Dictionary(uniqueKeysWithValues: try store.claimStatus(of: grid.runs).map { ($0.run, $0.record) })
        var latest: [String: [SnapshotSummary]] = [:]
        for dataset in grid.datasets { latest[dataset] = try store.snapshots(dataset: dataset) }
        let runs = grid.runs.map { run in
            if let outcome = outcomes[run] { return outcome }
            let record = states[run] ?? nil
            let status: SweepRun.Status = record?.state == .failed ? .failed : completeBefore.contains(run) ? .skipped : .elsewhere
            return SweepRun(dataset: run.dataset, method: run.method, variant: Variant(tag: run.run.variant) ?? .full, shots: run.run.shots,
                            seed: run.run.seed, status: status, snapshots: snapshots(of: run, in: latest[run.dataset]!), trainedStages: [],
                            message: record?.message)
        }
        return SweepResult(worker: request.worker, datasets: grid.datasets.map { SweepResult.Dataset(name: $0, stages: grid.stages[$0]!.map(\.name)) },
                           runs: runs)
    }

    /// Trains the stages a claimed run lacks, renewing its lease meanwhile, and ends the claim.
    func trainClaimed(_ claim: ClaimedRun, index: Int, grid: SweepGrid, data: [StageData], request: SweepRequest, existing: [Int64],
               completeBefore: Bool, progress: ((SweepEvent) -> Void)?) throws -> SweepRun {
        let run = claim.run
        let holder = ClaimHolder(id: claim.id, worker: claim.worker)
        let keeper = LeaseKeeper(store: store, holder: holder, interval: request.lease / 4)
        defer { keeper.stop() }
        let start = Date()
        var snapshots = existing
        var trained: [String] = []
        var outcome = SweepRun(dataset: run.dataset, method: run.method, variant: Variant(tag: run.run.variant) ?? .full, shots: run.run.shots,
                               seed: run.run.seed, status: .trained, snapshots: [], trainedStages: [], takenOverFrom: claim.takenOverFrom)
        do {
            let configuration = request.configuration(run.method, run.run)
            for (stage, stageData) in zip(grid.stages[run.dataset]!, data).dropFirst(snapshots.count) {
                progress?(.run(index: index, of: grid.runs.count, run: run, stage: stage.name))
                var add = AddStageRequest(csv: URL(fileURLWithPath: stageData.sourceFile), csvName: stageData.sourceFile, features: nil,
                                          featuresName: nil, dataset: run.dataset, stage: stage.name, method: run.method,
                                          trainingProtocol: request.trainingProtocol, configuration: configuration)
                add.data = stageData
                add.run = run.run
                add.claim = holder
                let result = try addStage(add) { progress?(.stage($0)) }
                snapshots.append(result.snapshot.id)
                trained.append(stage.name)
                request.afterStageCommit?(run, stage.name)
            }
        } catch let error as StoreError {
            keeper.stop()
            switch error {
            case .claimLost, .planChangedMeanwhile:
                // Another worker holds the run now: it is theirs to finish.
                outcome.status = .elsewhere
                outcome.message = "\(error)"
                (outcome.snapshots, outcome.trainedStages) = (snapshots, trained)
                return outcome
            default:
                // The store itself failed (a lost server, a full disk): the claim is left to
                // its lease, and another worker (or this one, run again) continues the run.
                throw error
            }
        } catch {
            // A failure of the run's own (divergence, data it cannot train): recorded, not retried.
            keeper.stop()
            try store.finishClaim(holder, state: .failed, seconds: Date().timeIntervalSince(start), message: "\(error)")
            outcome.status = .failed
            outcome.message = "\(error)"
            (outcome.snapshots, outcome.trainedStages) = (snapshots, trained)
            return outcome
        }
        keeper.stop()
        try store.finishClaim(holder, state: .done, seconds: Date().timeIntervalSince(start))
        outcome.status = trained.isEmpty && completeBefore ? .skipped : .trained
        (outcome.snapshots, outcome.trainedStages) = (snapshots, trained)
        return outcome
    }

    /// The command-line names of the training options.
    static let optionNames = [
        "learning_rate": "--lr", "momentum": "--momentum", "weight_decay": "--weight-decay", "batch_size": "--batch-size",
        "epochs": "--epochs", "warmup_epochs": "--warmup-epochs", "warmup_learning_rate": "--warmup-lr", "lambda_wc": "--lambda-wc",
        "lambda_cos": "--lambda-cos", "lambda_kd": "--lambda-kd", "temperature": "--temperature", "label_tokens": "--label-tokens",
        "label_initialisation": "--label-init", "context_length": "--n-ctx", "prompt_depth": "--prompt-depth",
    ]

    /// The options in which a stored snapshot's configuration (as `SnapshotConfiguration` is
    /// stored) differs from `requested`, each as (stored, requested) text naming the option.
    func optionDifferences(stored: JSONValue, requested: LAMMConfiguration, trainingProtocol: Protocol) throws -> [OptionDifference] {
        // Encoded as the stored configuration's `lamm` is.
        let asked = try JSONValue(parsing: String(decoding: try SnapshotConfiguration.encoder().encode(requested), as: UTF8.self))
        guard case let .object(config) = stored, case let .object(was)? = config["lamm"], case let .object(now) = asked else {
            return [OptionDifference(option: "the training options", stored: "not recorded", requested: "given")]
        }
        var differences: [OptionDifference] = []
        if case let .string(storedProtocol)? = config["training_protocol"], storedProtocol != trainingProtocol.rawValue {
            differences.append(OptionDifference(option: "--protocol", stored: storedProtocol, requested: trainingProtocol.rawValue))
        }
        for key in Set(was.keys).union(now.keys).sorted() where key != "seed" && key != "shots" && was[key] != now[key] {
            differences.append(OptionDifference(option: Self.optionNames[key] ?? key, stored: (was[key] ?? .null).optionText,
                                                requested: (now[key] ?? .null).optionText))
        }
        return differences
    }

    /// The grid's values, each checked before anything is trained.
    static func validate(_ request: SweepRequest) throws {
        func check(_ ok: Bool, _ option: String, _ value: String, _ allowed: String) throws {
            if !ok { throw TrainingError.outOfRange(option: option, value: value, allowed: allowed) }
        }
        try check(!request.shots.isEmpty && !request.seeds.isEmpty && !request.methods.isEmpty, "the sweep grid", "empty",
                  "at least one value each of --shots, --seeds and --methods")
        for shots in request.shots {
            try check((1...LAMMConfiguration.maximumShots).contains(shots), "--shots", "\(shots)", "1 to \(LAMMConfiguration.maximumShots)")
        }
        for method in request.methods {
            try check(Self.trainableMethods.contains(method) && method != .zeroshot, "--methods", method.rawValue,
                      Self.trainableMethods.filter { $0 != .zeroshot }.map(\.rawValue).joined(separator: ", "))
        }
        try check(!request.variants.isEmpty, "--variants", "empty", Variant.allCases.map(\.rawValue).joined(separator: ", "))
        for variant in request.variants where !request.methods.contains(where: variant.applies(to:)) {
            try check(false, "--variants", variant.rawValue,
                      "variants other than full with a method that trains label vectors (lamm, coop+lamm, maple+lamm) in --methods")
        }
        try check(request.lease >= 1 && request.lease.isFinite, "--lease", "\(request.lease)", "at least 1 second")
        if let datasets = request.datasets { try check(!datasets.isEmpty, "--datasets", "empty", "at least one dataset") }
        for (name, values) in [("--shots", request.shots.map(String.init)), ("--seeds", request.seeds.map(String.init)),
                               ("--methods", request.methods.map(\.rawValue)), ("--variants", request.variants.map(\.rawValue)),
                               ("--datasets", request.datasets ?? [])] where Set(values).count != values.count {
            try check(false, name, values.joined(separator: ","), "each value once")
        }
        for method in request.methods {
            for variant in request.variants where variant.applies(to: method) {
                try request.configuration(method, RunTag(shots: request.shots[0], seed: request.seeds[0], variant: variant.tag)).validate()
            }
        }
    }
}

/// A training option whose value differs between a run in the store and a sweep.
public struct OptionDifference: Sendable, Equatable {
    public var option: String
    public var stored: String
    public var requested: String
}

extension JSONValue {
    /// The value as an option is written on a command line.
    var optionText: String {
        switch self {
        case .null: return "its default"
        case let .bool(value): return "\(value)"
        case let .number(value): return value == value.rounded() && abs(value) < 1e15 ? "\(Int64(value))" : "\(Float(value))"
        case let .string(value): return value
        case .array, .object: return "\(self)"
        }
    }
}

/// Renews a claim's lease every `interval` seconds on a thread of its own while a run trains.
/// A renewal the store refuses (another worker took the run over) ends the renewals; the run's
/// next commit then finds the claim gone and writes nothing.
final class LeaseKeeper: @unchecked Sendable {
    private let timer: DispatchSourceTimer

    init(store: LabelStore, holder: ClaimHolder, interval: Double) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "lamm-store.lease"))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [timer] in
            // A failed renewal (the server restarting) is tried again at the next beat.
            if (try? store.renewClaim(holder)) == false { timer.cancel() }
        }
        timer.resume()
    }

    func stop() { timer.cancel() }
}
