import CLIP
import Formats
import Foundation
import Methods
import Store
import Training

/// `import-split`: a CoOp/Dassl split file as the stages of one dataset: by default Set1 the
/// first ceil(K/2) labels and Set2 the rest (LAMM.md, incremental setting); with `increments`
/// and `classOrder`, any class-incremental scenario (B0 Inc10 in a seeded order, ...).
public struct ImportSplitRequest: Sendable {
    public var file: URL
    public var fileName: String
    /// The folder the split's relative image paths start from.
    public var images: URL
    /// nil: the file's name without `split_zhou_` (split_zhou_OxfordPets.json -> OxfordPets).
    public var dataset: String?
    public var method: Method
    public var trainingProtocol: Protocol
    public var configuration: LAMMConfiguration
    public var imageOptions: ImageEncodingOptions
    /// The stages' sizes (two by default) and the order the classes are taken in.
    public var increments: ClassIncrements = .steps(2)
    public var classOrder: ClassOrder = .sorted

    public init(file: URL, fileName: String, images: URL, dataset: String?, method: Method, trainingProtocol: Protocol = .task,
                configuration: LAMMConfiguration = .init(), imageOptions: ImageEncodingOptions = .init()) {
        self.file = file
        self.fileName = fileName
        self.images = images
        self.dataset = dataset
        self.method = method
        self.trainingProtocol = trainingProtocol
        self.configuration = configuration
        self.imageOptions = imageOptions
    }

    public var datasetName: String {
        dataset ?? file.deletingPathExtension().lastPathComponent
            .replacingOccurrences(of: "split_zhou_", with: "").replacingOccurrences(of: "split_", with: "")
    }
}

extension StageWriter {
    /// Registers and trains every stage, all or nothing: every stage is checked (classes, label
    /// tokens, training rows, stage content) and every image encoded before anything is
    /// trained, and all stages are written in one transaction at the end.
    /// `split` given (an ImageFolder tree read already) is used instead of reading `request.file`.
    public func importSplit(_ request: ImportSplitRequest, split given: DasslSplit? = nil,
                            progress: ((AddStageEvent) -> Void)? = nil) throws -> [AddStageResult] {
        let split = try given ?? DasslSplit.read(request.file, displayName: request.fileName)
        let ordered = try request.classOrder.apply(to: split.labels) { split.classNames[$0]! }
        let stages = try request.increments.stages(ordered)
        var plans: [StagePlan] = []
        for (k, labels) in stages.enumerated() where !labels.isEmpty {
            let name = "Set\(k + 1)"
            var add = AddStageRequest(csv: request.file, csvName: request.fileName, features: nil, featuresName: nil,
                                      dataset: request.datasetName, stage: name, method: request.method,
                                      trainingProtocol: request.trainingProtocol, configuration: request.configuration)
            add.images = request.imageOptions
            add.data = stageData(split, labels: labels, request: request)
            plans.append(try planStage(add, after: plans, progress: progress))
        }
        var prepared: [PreparedStage] = []
        for plan in plans {
            prepared.append(try train(plan, after: prepared.last, progress: progress))
        }
        return try write(prepared)
    }

    /// One stage's classes (in label order) and samples. With --shots, validation rows are
    /// subsampled to min(shots, 4) per class with the seed, as Dassl's few-shot datasets are;
    /// training rows are sampled when training.
    func stageData(_ split: DasslSplit, labels: [Int], request: ImportSplitRequest) -> StageData {
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        var data = StageData(sourceFile: request.fileName, classes: labels.map { split.classNames[$0]! }, samples: [], firstLine: [:])
        var random = SplitMix64(seed: request.configuration.seed)
        for name in Split.allCases {
            var items = (split.items[name.rawValue] ?? []).filter { index[$0.label] != nil }
            if name == .val, let shots = request.configuration.shots {
                var kept: [DasslSplit.Item] = []
                for label in labels {
                    var ofClass = items.filter { $0.label == label }
                    ofClass.shuffle(using: &random)
                    kept += ofClass.prefix(min(shots, 4))
                }
                items = kept
            }
            for item in items {
                data.samples.append(Sample(classIndex: index[item.label]!, split: name, feature: [],
                                              imagePath: request.images.appendingPathComponent(item.path).standardizedFileURL.path))
            }
        }
        return data
    }
}
