// The paper's few-shot experiments (LAMM.md, Table 3: n = 1, 2, 4, 8, 16 shots, seeds 1, 2, 3):
// one lineage per method, shot count and seed, trained on a dataset's registered stages in
// order. Each run's snapshots carry its RunTag, so runs never become each other's parents, and
// each stage is written as soon as it is trained: a sweep that is stopped keeps what it wrote,
// and the next one skips the runs that are complete and continues the others.

import Foundation
import Methods
import Store
import Training

public struct SweepRequest: Sendable {
    public var dataset: String?
    public var shots: [Int]
    public var seeds: [UInt64]
    public var methods: [Method]
    /// Every other training option (the methods' own defaults apply where `configurations`
    /// gives none).
    public var configurations: [Method: LAMMConfiguration]
    public var trainingProtocol: Protocol

    public init(dataset: String?, shots: [Int], seeds: [UInt64], methods: [Method],
                configurations: [Method: LAMMConfiguration] = [:], trainingProtocol: Protocol = .task) {
        self.dataset = dataset
        self.shots = shots
        self.seeds = seeds
        self.methods = methods
        self.configurations = configurations
        self.trainingProtocol = trainingProtocol
    }
}

/// One run of the grid and what the sweep did with it.
public struct SweepRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Every stage was already trained by an earlier sweep.
        case skipped
        /// This sweep trained the stages the run lacked.
        case trained
    }

    public var method: Method
    public var shots: Int
    public var seed: UInt64
    public var status: Status
    /// The run's snapshot of each stage, in stage order.
    public var snapshots: [Int64]
    /// Stages this sweep trained.
    public var trainedStages: [String]
}

public struct SweepResult: Codable, Sendable, Equatable {
    public var dataset: String
    public var stages: [String]
    public var runs: [SweepRun]
}

public enum SweepEvent: Sendable {
    case run(index: Int, of: Int, method: Method, shots: Int, seed: UInt64, stage: String)
    case stage(AddStageEvent)
}

extension StageWriter {
    /// Runs the grid methods x shots x seeds on the dataset's registered stages.
    public func sweep(_ request: SweepRequest, progress: ((SweepEvent) -> Void)? = nil) throws -> SweepResult {
        let datasetName = try store.resolveDataset(request.dataset).name
        let stages = try store.stages(of: store.resolveDataset(datasetName).id!)
        guard !stages.isEmpty else { throw ContinualError.noStagesToSweep(dataset: datasetName) }
        try validate(request)
        let grid = request.methods.flatMap { method in
            request.shots.flatMap { shots in request.seeds.map { (method, RunTag(shots: shots, seed: $0)) } }
        }
        // Every stage's data once, checked before any training.
        let data = try stages.map { try store.registeredStageData(stage: $0.id!) }
        for (method, _) in grid { for stage in data { try requireImages(stage, method: method) } }

        func configuration(_ method: Method, _ run: RunTag) -> LAMMConfiguration {
            var configuration = request.configurations[method] ?? LAMMConfiguration.defaults(for: method)
            configuration.shots = run.shots
            configuration.seed = run.seed
            return configuration
        }
        // A run's training options are part of it: a run in the store with other options is
        // neither continued nor called complete with these (checked for every run first).
        let stored = try store.snapshots(dataset: datasetName)
        for (method, run) in grid {
            guard let first = stored.first(where: { $0.method == method && $0.run == run }) else { continue }
            let differences = try optionDifferences(stored: store.snapshotDetail(first.id).config,
                                                    requested: configuration(method, run), trainingProtocol: request.trainingProtocol)
            guard differences.isEmpty else {
                throw ContinualError.runOptionsDiffer(method: method.rawValue, shots: run.shots, seed: run.seed, dataset: datasetName,
                                                      snapshot: first.id, differences: differences)
            }
        }

        var runs: [SweepRun] = []
        for (index, (method, run)) in grid.enumerated() {
            let existing = try store.snapshots(dataset: datasetName).filter { $0.method == method && $0.run == run }
            var snapshots = stages.compactMap { stage in existing.last { $0.stage == stage.name }?.id }
            var trained: [String] = []
            let configuration = configuration(method, run)
            for (stage, stageData) in zip(stages, data).dropFirst(snapshots.count) {
                progress?(.run(index: index, of: grid.count, method: method, shots: run.shots, seed: run.seed, stage: stage.name))
                var add = AddStageRequest(csv: URL(fileURLWithPath: stageData.sourceFile), csvName: stageData.sourceFile, features: nil,
                                          featuresName: nil, dataset: datasetName, stage: stage.name, method: method,
                                          trainingProtocol: request.trainingProtocol, configuration: configuration)
                add.data = stageData
                add.run = run
                let result = try addStage(add) { progress?(.stage($0)) }
                snapshots.append(result.snapshot.id)
                trained.append(stage.name)
            }
            runs.append(SweepRun(method: method, shots: run.shots, seed: run.seed, status: trained.isEmpty ? .skipped : .trained,
                                 snapshots: snapshots, trainedStages: trained))
        }
        return SweepResult(dataset: datasetName, stages: stages.map(\.name), runs: runs)
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
    func validate(_ request: SweepRequest) throws {
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
        for (name, values) in [("--shots", request.shots.map(String.init)), ("--seeds", request.seeds.map(String.init)),
                               ("--methods", request.methods.map(\.rawValue))] where Set(values).count != values.count {
            try check(false, name, values.joined(separator: ","), "each value once")
        }
        for method in request.methods {
            var configuration = request.configurations[method] ?? LAMMConfiguration.defaults(for: method)
            configuration.shots = request.shots[0]
            try configuration.validate()
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
