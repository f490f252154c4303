import ArgumentParser
import Continual
import Foundation
import Methods
import Store
import Training

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train a grid of shots x seeds x methods on a dataset's registered stages, one lineage per run.",
        discussion: """
            The paper's few-shot experiments (Table 3: 1, 2, 4, 8, 16 shots, seeds 1, 2, 3). Every run \
            (method, shots, seed) trains the dataset's stages in order as its own lineage, its snapshots \
            tagged with the run; each stage is written as soon as it is trained. A run whose stages are \
            all in the store is skipped, so a sweep that was stopped continues where it was. The other \
            training options apply to every run (each method's own defaults otherwise). `compare` shows \
            runs that differ only in seed as mean +- standard deviation, and the HTML report draws \
            accuracy against shots.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Shots per class, comma-separated.", valueName: "1,2,4,8,16"))
    var shots: String = "1,2,4,8,16"

    @Option(name: .long, help: ArgumentHelp("Seeds, comma-separated.", valueName: "1,2,3"))
    var seeds: String = "1,2,3"

    @Option(name: .long, help: ArgumentHelp("Methods, comma-separated: lamm, coop, coop+lamm, maple, maple+lamm.", valueName: "lamm,coop"))
    var methods: String = "lamm,coop"

    @OptionGroup var dataset: DatasetOptions
    @OptionGroup var labelSpace: ProtocolOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup(title: "Training") var hyperParameters: HyperParameterOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    /// The comma-separated values of `option`, each parsed, or a usage error naming the bad one.
    /// Each value given once: `--shots 1,1` is a usage error, not two runs of one grid cell.
    static func list<T: Hashable>(_ text: String, option: String, _ parse: (String) -> T?) throws -> [T] {
        let values = try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let value = part.trimmingCharacters(in: .whitespaces)
            guard let parsed = parse(value) else {
                throw ValidationError("\(option): '\(value)' is not a valid value; give a comma-separated list such as \(option == "--methods" ? "lamm,coop" : "1,2,4").")
            }
            return (parsed, value)
        }
        let parsed = values.map(\.0)
        try requireDistinct(parsed, option: option) { value in values.first { $0.0 == value }!.1 }
        return parsed
    }

    var grid: (shots: [Int], seeds: [UInt64], methods: [Method]) {
        get throws {
            (try Self.list(shots, option: "--shots") { Int($0).flatMap { $0 >= 1 ? $0 : nil } },
             try Self.list(seeds, option: "--seeds") { UInt64($0) },
             try Self.list(methods, option: "--methods") { Method(argument: $0).flatMap { $0 == .zeroshot ? nil : $0 } })
        }
    }

    func validate() throws { _ = try grid }

    func run() throws {
        let (shots, seeds, methods) = try grid
        let printer = progress.printer(json: output.json)
        let configurations = Dictionary(uniqueKeysWithValues: methods.map { ($0, hyperParameters.configuration(for: $0)) })
        let result = try store.withStore(.write) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            let request = SweepRequest(dataset: dataset.name, shots: shots, seeds: seeds, methods: methods,
                                       configurations: configurations, trainingProtocol: labelSpace.protocol)
            return try session.writer.sweep(request) { event in
                switch event {
                case let .run(index, count, method, shots, seed, stage):
                    printer.write("run \(index + 1)/\(count): \(method.rawValue), \(shots) shots, seed \(seed): \(stage)\n")
                case let .stage(event): printer.stage(event)
                }
            }
        }
        if output.json {
            try printJSON(result)
            return
        }
        let trained = result.runs.filter { $0.status == .trained }.count
        print("sweep of dataset '\(result.dataset)' (\(result.stages.joined(separator: ", "))): \(result.runs.count) runs, "
              + "\(trained) trained, \(result.runs.count - trained) already complete")
        printTable(["method", "shots", "seed", "status", "snapshots"], result.runs.map {
            [$0.method.rawValue, "\($0.shots)", "\($0.seed)", $0.status.rawValue, $0.snapshots.map(String.init).joined(separator: ",")]
        })
    }
}
