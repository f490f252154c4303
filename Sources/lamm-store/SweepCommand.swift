import ArgumentParser
import Continual
import Formats
import Foundation
import Methods
import Store
import Training

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train a grid of datasets x methods x variants x shots x seeds, one lineage per run, shared by any number of workers.",
        discussion: """
            The paper's few-shot experiments (Table 3: 1, 2, 4, 8, 16 shots, seeds 1, 2, 3) and its \
            ablations (--variants: Table 3's no-hl, Table 4's no-wc, no-cos, no-kd, wc-only, cos-only, \
            kd-only, Table 5's random-init; they apply to the methods that train label vectors, CoOp and \
            MaPLe run full only). Every run (dataset, method, variant, shots, seed) trains its dataset's \
            stages in order as its own lineage; each stage is written as soon as it is trained.

            Any number of sweeps of the same grid may run at once on one store (an SQLite file on one \
            machine, a PostgreSQL database across machines): each run is claimed in the store before it \
            is trained, so none is trained twice. A claim is a lease the worker renews while it trains \
            (every quarter of --lease); the run of a worker that is killed or loses its machine is taken \
            over, once the lease has ended, by another worker, from its last committed stage. A worker \
            with nothing left to claim waits for the runs others hold. A run that fails for a reason of \
            its own (divergence, data it cannot train) is marked failed with its message and not tried \
            again unless --retry-failed. `sweep --status` shows the grid.

            On a terminal, one line per finished run and the current run's epoch line; quiet otherwise \
            (`--status` shows where a grid stands). `compare` shows runs that differ only in seed as mean +- sd.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Datasets, comma-separated (default: the store's only dataset).", valueName: "a,b"))
    var datasets: String?

    @Option(name: .long, help: ArgumentHelp("Shots per class, comma-separated.", valueName: "1,2,4,8,16"))
    var shots: String = "1,2,4,8,16"

    @Option(name: .long, help: ArgumentHelp("Seeds, comma-separated.", valueName: "1,2,3"))
    var seeds: String = "1,2,3"

    @Option(name: .long, help: ArgumentHelp("Methods, comma-separated: lamm, coop, coop+lamm, maple, maple+lamm.", valueName: "lamm,coop"))
    var methods: String = "lamm,coop"

    @Option(name: .long, help: ArgumentHelp("Ablations, comma-separated: \(Variant.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "full,no-hl"))
    var variants: String = "full"

    @Option(name: .long, help: ArgumentHelp("Seconds a claimed run stays this worker's without a heartbeat.", valueName: "seconds"))
    var lease: Double = 120

    @Flag(name: .long, help: "Show the grid's runs (done, running, failed, waiting) and the time left, and train nothing.")
    var status = false

    @Flag(name: .long, help: "Try the grid's failed runs again.")
    var retryFailed = false

    @Flag(name: .long, help: "Return when no run is free instead of waiting for the runs other workers hold.")
    var noWait = false

    @OptionGroup var dataset: DatasetOptions
    @OptionGroup var labelSpace: ProtocolOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup(title: "Training") var hyperParameters: HyperParameterOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    /// The comma-separated values of `option`, each parsed, or a usage error naming the bad one.
    /// Each value given once: `--shots 1,1` is a usage error, not two runs of one grid cell.
    static func list<T: Hashable>(_ text: String, option: String, example: String = "1,2,4", _ parse: (String) -> T?) throws -> [T] {
        let values = try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let value = part.trimmingCharacters(in: .whitespaces)
            guard let parsed = parse(value) else {
                throw ValidationError("\(option): '\(value)' is not a valid value; give a comma-separated list such as \(example).")
            }
            return (parsed, value)
        }
        let parsed = values.map(\.0)
        try requireDistinct(parsed, option: option) { value in values.first { $0.0 == value }!.1 }
        return parsed
    }

    struct Grid {
        var datasets: [String]?
        var shots: [Int]
        var seeds: [UInt64]
        var methods: [Method]
        var variants: [Variant]
    }

    var grid: Grid {
        get throws {
            if datasets != nil && dataset.name != nil { throw ValidationError("give the datasets with --datasets or --dataset, not both.") }
            let names = try datasets.map { text in
                try Self.list(text, option: "--datasets", example: "pets,cars") { value -> String? in
                    let name = Names.normalised(value)
                    return (try? Names.checked(name, as: .dataset, option: "--datasets")) == nil ? nil : name
                }
            } ?? dataset.name.map { [$0] }
            return Grid(datasets: names,
                        shots: try Self.list(shots, option: "--shots") { Int($0).flatMap { $0 >= 1 ? $0 : nil } },
                        seeds: try Self.list(seeds, option: "--seeds") { UInt64($0) },
                        methods: try Self.list(methods, option: "--methods", example: "lamm,coop") { Method(argument: $0).flatMap { $0 == .zeroshot ? nil : $0 } },
                        variants: try Self.list(variants, option: "--variants", example: "full,no-hl") { Variant(rawValue: $0) })
        }
    }

    func validate() throws {
        _ = try grid
        guard lease >= 1, lease.isFinite else { throw ValidationError("--lease: \(lease) seconds is too short; give at least 1 (the heartbeat comes every quarter of it).") }
    }

    func request() throws -> SweepRequest {
        let grid = try self.grid
        let configurations = Dictionary(uniqueKeysWithValues: grid.methods.map { ($0, hyperParameters.configuration(for: $0)) })
        var request = SweepRequest(dataset: nil, shots: grid.shots, seeds: grid.seeds, methods: grid.methods,
                                   configurations: configurations, trainingProtocol: labelSpace.protocol)
        request.datasets = grid.datasets
        request.variants = grid.variants
        request.lease = lease
        request.retryFailed = retryFailed
        request.waitForOthers = !noWait
        return request
    }

    func run() throws {
        var request = try request()
        if status {
            try showStatus(request)
            return
        }
        let printer = progress.printer(json: output.json)
        if let hook = ProcessInfo.processInfo.environment["LAMM_STORE_TEST_HOOK"], hook == "sweep-stall-after-commit" {
            // For the tests of a worker killed mid-run: stop after the first stage this worker
            // commits, say so, and wait to be killed (the lease is still renewed until then).
            request.afterStageCommit = { run, stage in
                FileHandle.standardError.write(Data("stalled after \(run), \(stage)\n".utf8))
                while true { Thread.sleep(forTimeInterval: 60) }
            }
        }
        let result = try store.withStore(.write) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            return try session.writer.sweep(request) { event in
                switch event {
                case let .run(index, count, run, stage):
                    if printer.interactive { printer.write("\r\u{1B}[Krun \(index + 1)/\(count): \(run): \(stage)\n") }
                case let .stage(event):
                    if printer.interactive { printer.stage(event) }
                case let .finished(run, done, count):
                    guard printer.interactive else { break }
                    let what = run.status == .trained ? "trained " + run.trainedStages.joined(separator: ", ")
                        : run.status == .failed ? "failed: " + (run.message ?? "") : run.status.rawValue
                    printer.write("\r\u{1B}[K\(done) finished (of \(count)): \(run.dataset): \(run.method.rawValue), \(run.variant.rawValue), "
                                  + "\(run.shots) shots, seed \(run.seed): \(what)" + (run.takenOverFrom.map { " (taken over from \($0))" } ?? "") + "\n")
                case let .waiting(running):
                    if printer.interactive { printer.write("\r\u{1B}[Kwaiting for \(running) run\(running == 1 ? "" : "s") other workers hold") }
                }
            }
        }
        if output.json {
            try printJSON(result)
            return
        }
        let counts = Dictionary(grouping: result.runs, by: \.status).mapValues(\.count)
        print("sweep of \(result.datasets.map { "'\($0.name)' (\($0.stages.joined(separator: ", ")))" }.joined(separator: ", ")) by \(result.worker): "
              + "\(result.runs.count) runs, \(counts[.trained] ?? 0) trained here, \(counts[.elsewhere] ?? 0) by other workers, "
              + "\(counts[.skipped] ?? 0) already complete, \(counts[.failed] ?? 0) failed")
        printTable(["dataset", "method", "variant", "shots", "seed", "status", "snapshots"], result.runs.map {
            [$0.dataset, $0.method.rawValue, $0.variant.rawValue, "\($0.shots)", "\($0.seed)", $0.status.rawValue,
             $0.snapshots.map(String.init).joined(separator: ",")]
        })
        for run in result.runs where run.status == .failed {
            print("failed: \(run.dataset), \(run.method.rawValue), \(run.variant.rawValue), \(run.shots) shots, seed \(run.seed): \(run.message ?? "")")
        }
    }
}
