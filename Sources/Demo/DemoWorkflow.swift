import Continual
import Foundation
import Reports
import Store
import Training

/// The README's main job on its embedded default: a small CLIP checkpoint with random weights
/// and a vocabulary made on the spot, a synthetic two-stage task whose image features sit near
/// shifted label embeddings, then Set1 -> Set2 with each method, evaluated and compared.
public struct DemoWorkflow {
    public var directory: URL
    public var methods: [Method]
    public var configuration: LAMMConfiguration
    public var seed: UInt64

    public init(directory: URL, methods: [Method] = [.lamm, .coop, .coopLAMM], configuration: LAMMConfiguration = .init(),
                seed: UInt64 = DemoTask.defaultSeed) {
        self.directory = directory
        self.methods = methods
        self.configuration = configuration
        self.seed = seed
    }

    public struct Result: Codable, Sendable {
        public var store: String
        public var model: String
        /// Zero-shot CLIP and the oracle (the shifted prompts themselves) per stage, in percent.
        public var zeroShot: [Double]
        public var oracle: [Double]
        public var evaluations: [SnapshotEvaluation]
        public var comparison: Comparison
        public var report: String
        public var seconds: Double
    }

    public enum Event: Sendable {
        case message(String)
        case stage(AddStageEvent)
    }

    public func run(progress: ((Event) -> Void)? = nil) throws -> Result {
        let start = Date()
        let modelDirectory = directory.appendingPathComponent("clip-demo")
        let dataDirectory = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        progress?(.message("writing a small CLIP checkpoint with random weights to \(modelDirectory.path)"))
        try DemoCheckpoint.write(to: modelDirectory, words: DemoTask.promptWords(), seed: seed)
        let task = try DemoTask(checkpointDirectory: modelDirectory, seed: seed)
        let files = try task.write(to: dataDirectory)
        let (zeroShot, oracle) = task.accuracies()
        progress?(.message(String(format: "synthetic task: %d classes in 2 stages; zero-shot CLIP %.1f%% / %.1f%%, oracle %.1f%% / %.1f%%",
                                  task.classNames.count, 100 * zeroShot[0], 100 * zeroShot[1], 100 * oracle[0], 100 * oracle[1])))

        let storePath = directory.appendingPathComponent("demo.sqlite").path
        try? FileManager.default.removeItem(atPath: storePath)
        let store = try LabelStore.open(path: storePath, access: .create)
        defer { try? store.close() }
        try store.bindModel(try ModelRecord.describing(checkpoint: modelDirectory, name: "clip-demo"))
        let session = try ContinualSession(store: store)
        var evaluations: [SnapshotEvaluation] = []
        for method in methods {
            var last: AddStageResult?
            for stage in files {
                progress?(.message("\(method.rawValue): training \(stage.stage) (\(stage.classNames.count) classes)"))
                let request = AddStageRequest(csv: stage.csv, csvName: stage.csv.lastPathComponent, features: stage.features,
                                              featuresName: stage.features.lastPathComponent, dataset: "demo", stage: nil,
                                              method: method, configuration: configuration)
                last = try session.addStage(request) { progress?(.stage($0)) }
            }
            if let last { evaluations.append(try session.evaluate(snapshot: last.snapshot.id)) }
        }
        let comparison = try session.compare(dataset: "demo")
        let report = directory.appendingPathComponent("report.html")
        try Data(comparison.html(title: "lamm-store demo: LAMM, CoOp and CoOp+LAMM on a synthetic two-stage task").utf8)
            .write(to: report, options: .atomic)
        return Result(store: storePath, model: modelDirectory.path, zeroShot: zeroShot.map { 100 * $0 }, oracle: oracle.map { 100 * $0 },
                      evaluations: evaluations, comparison: comparison, report: report.path,
                      seconds: Date().timeIntervalSince(start))
    }
}
