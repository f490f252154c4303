import CLIP
import Evaluation
import Formats
import Foundation
import Kernels
import Methods
import Store
import Training

/// What `add-classes` is asked to do.
public struct AddStageRequest: Sendable {
    public var csv: URL
    public var csvName: String
    public var features: URL?
    public var featuresName: String?
    /// nil: the store's only dataset (or `default` in an empty store).
    public var dataset: String?
    /// nil: the registered stage with identical content, else Set<n+1>.
    public var stage: String?
    public var method: Method
    /// Label space while training: the new stage's classes (`task`) or all classes so far (`class`).
    public var trainingProtocol: Protocol
    public var configuration: LAMMConfiguration
    /// How images named by the stage's rows are encoded.
    public var images = ImageEncodingOptions()
    /// The stage's data when it comes from elsewhere than a CSV (import-split, sweep); the file
    /// fields are then only names for messages.
    public var data: StageData?
    /// The sweep run whose lineage the stage extends; nil for the add-classes lineage.
    public var run: RunTag?
    /// The sweep claim the run is trained under, checked by the commit.
    public var claim: ClaimHolder?
    /// `reproduce`: train from this stored snapshot (nil: as the lineage's first) instead of the
    /// lineage's latest; such a plan is trained, never written.
    public var fixedParent: Int64??

    public init(csv: URL, csvName: String, features: URL?, featuresName: String?, dataset: String?, stage: String?,
                method: Method, trainingProtocol: Protocol = .task, configuration: LAMMConfiguration = .init()) {
        self.csv = csv
        self.csvName = csvName
        self.features = features
        self.featuresName = featuresName
        self.dataset = dataset
        self.stage = stage
        self.method = method
        self.trainingProtocol = trainingProtocol
        self.configuration = configuration
    }
}

/// What `add-classes` did.
public struct AddStageResult: Codable, Sendable {
    public var snapshot: SnapshotSummary
    public var registration: RegisteredStage
    public var newlyRegistered: Bool
    /// Zero-shot CLIP accuracy (%) on the stage's test rows, if it has any.
    public var baseline: Double?
    public var trainingSeconds: Double
    public var steps: Int
    public var shots: Int
    public var finalLoss: LossTerms?
    public var warnings: [String]
    /// Image features computed now, and reused from the store's cache.
    public var encodedImages = 0
    public var reusedImageFeatures = 0
    public var skippedImages: [String] = []
}

public enum AddStageEvent: Sendable {
    case images(ImageEncodingEvent)
    case baseline(Accuracy)
    case training(TrainingProgress)
}

/// A stage checked against the store and ready to train: every error a user can cause in its
/// data (classes, label tokens, training rows, stage content, images) is found while planning.
struct StagePlan {
    var request: AddStageRequest
    var datasetName: String
    var stageName: String
    /// The registered stage with identical content, when the stage is reused.
    var existing: StageRecord?
    var position: Int
    var data: StageData
    var encoded: EncodedImages?
    var labels: [ClassLabel]
    /// Indices into `data.samples` of each class's training rows, and n (shots per class).
    var trainingRows: [[Int]]
    var shots: Int
    var warnings: [String]
    /// The stored snapshot the stage continues from; nil when it follows a stage planned in
    /// the same run.
    var storedParent: ParentSnapshot?
}

/// A stage trained and ready to write, with what a following stage of the same run needs of
/// it before it is written (import-split writes all its stages in one transaction).
struct PreparedStage {
    var plan: StagePlan
    var commit: StageCommit
    var baseline: Accuracy?
    var result: TrainingResult?
    var warnings: [String]
    /// Every class the snapshot covers, in stage then label order, with its label vectors.
    var rows: [(name: String, vectors: TokenVectors)]
    /// The context the snapshot's prompts use (its own, or inherited from its parent).
    var context: TokenVectors?
    /// MaPLe's prompts, trained by the stage.
    var prompts: MaPLePrompts?
}

/// The snapshot a stage continues from: the dataset's latest of the same method in the store,
/// or the stage prepared just before it in the same run.
indirect enum ParentSnapshot {
    case none
    case stored(snapshot: Int64, context: StoredContext?, rows: [SnapshotClassRow], prompts: MaPLePrompts?)
    case prepared(PreparedStage)

    var context: TokenVectors? {
        switch self {
        case .none: return nil
        case .stored(_, let context, _, _): return context?.vectors
        case .prepared(let stage): return stage.context
        }
    }

    var rows: [(name: String, vectors: TokenVectors)] {
        switch self {
        case .none: return []
        case .stored(_, _, let rows, _): return rows.map { ($0.classRecord.name, $0.vectors) }
        case .prepared(let stage): return stage.rows
        }
    }

    /// MaPLe's prompts to continue.
    var prompts: MaPLePrompts? {
        switch self {
        case .none: return nil
        case .stored(_, _, _, let prompts): return prompts
        case .prepared(let stage): return stage.prompts
        }
    }
}

extension StageWriter {
    /// The methods `addStage` can produce.
    public static let trainableMethods: [Method] = [.zeroshot] + Trainer.methods

    /// Registers a stage's classes and samples, stores the zero-shot baseline, trains the new
    /// classes' label vectors (LAMM) and writes one snapshot whose parent is the dataset's latest
    /// snapshot of the same method, all in one transaction at the end: an error at any point
    /// leaves the store as it was.
    public func addStage(_ request: AddStageRequest, progress: ((AddStageEvent) -> Void)? = nil) throws -> AddStageResult {
        let plan = try planStage(request, after: [], progress: progress)
        let prepared = try train(plan, after: nil, progress: progress)
        return try write([prepared])[0]
    }

    /// Checks a stage against the store and the stages planned before it in the same run
    /// (`earlier`, not yet written), encoding its images: nothing is trained or written.
    func planStage(_ request: AddStageRequest, after earlier: [StagePlan],
                   progress: ((AddStageEvent) -> Void)?) throws -> StagePlan {
        var request = request
        request.dataset = try request.dataset.map { try Names.checked($0, as: .dataset, option: "--dataset") }
        request.stage = try request.stage.map { try Names.checked($0, as: .stage, option: "--stage") }
        try request.configuration.validate()
        guard (0...ImageEncodingOptions.maximumViews).contains(request.images.views) else {
            throw TrainingError.outOfRange(option: "--views", value: "\(request.images.views)", allowed: "0 to \(ImageEncodingOptions.maximumViews)")
        }
        guard Self.trainableMethods.contains(request.method) else { throw ContinualError.methodUnavailable(method: request.method.rawValue) }
        var warnings: [String] = []
        var data = try request.data ?? StageFile.read(csv: request.csv, csvName: request.csvName, features: request.features,
                                                        featuresName: request.featuresName, featureWidth: features.model.featureWidth)
        var encoded: EncodedImages?
        if data.needsImageFeatures {
            let result = try features.encodeImages(data, options: request.images) { progress?(.images($0)) }
            data = result.data
            encoded = result
        }
        try requireImages(data, method: request.method)
        let labels = try data.classes.map { try template.label(for: $0, tokenizer: tokenizer) }
        // CoOp's context takes the place of the prefix words and MaPLe's of its first ones, so
        // either may lengthen the prompt.
        for label in labels {
            let tokens = PromptParameters.promptLength(method: request.method, contextLength: request.configuration.contextLength,
                                                       template: template, labelCount: label.tokenIDs.count)
            guard tokens <= template.contextLength else {
                throw TrainingError.promptTooLong(className: label.name, tokens: tokens, maximum: template.contextLength,
                                                  contextVectors: request.configuration.contextLength)
            }
        }
        // Everything the plan knows of the store comes from one state of it, whatever other
        // writers commit meanwhile; the commit checks that state again under the write lock.
        let (datasetName, stageName, existing, position, storedParent) = try store.consistentRead {
            let datasetName: String
            if let dataset = request.dataset {
                datasetName = dataset
            } else {
                // The store's only dataset; the first stage of an empty store starts `default`.
                datasetName = try store.datasetNames().isEmpty ? "default" : store.resolveDataset(nil).name
            }
            let (stageName, existing) = try resolveStage(dataset: datasetName, requested: request.stage, data: data)
            if existing == nil {
                try store.requireNewClasses(dataset: datasetName, data: data)
                for plan in earlier where plan.existing == nil {
                    if let repeated = data.classes.first(where: plan.data.classes.contains) {
                        throw StoreError.classRegisteredEarlier(file: data.sourceFile, line: data.firstLine[repeated] ?? 0, className: repeated,
                                                                dataset: datasetName, stage: plan.stageName)
                    }
                }
            }
            // A new stage's classes against the dataset's; a reused stage's among themselves.
            let otherClasses: [(name: String, stage: String)] = existing != nil ? [] : (
                try store.registeredClasses(dataset: datasetName).map { (name: $0.className, stage: $0.stage) }
                    + earlier.filter { $0.existing == nil }.flatMap { plan in plan.data.classes.map { (name: $0, stage: plan.stageName) } })
            try requireDistinctTokens(labels, data: data, among: otherClasses)
            try hooks.planning?()
            let registered = try store.datasetNames().contains(datasetName) ? try store.stages(of: store.resolveDataset(datasetName).id!).count : 0
            let position = existing?.position ?? max(registered, (earlier.last?.position ?? -1) + 1)
            var storedParent: ParentSnapshot?
            if earlier.isEmpty, let fixed = request.fixedParent {
                storedParent = try fixed.map { try self.storedParent($0, position: position) } ?? ParentSnapshot.none
            } else if earlier.isEmpty {
                storedParent = try parent(of: request.method, run: request.run, dataset: datasetName, stage: stageName, position: position)
            }
            return (datasetName, stageName, existing, position, storedParent)
        }
        let (byClass, shots) = try trainingRows(data, request: request, warnings: &warnings)
        return StagePlan(request: request, datasetName: datasetName, stageName: stageName, existing: existing, position: position,
                         data: data, encoded: encoded, labels: labels, trainingRows: byClass, shots: shots, warnings: warnings,
                         storedParent: storedParent)
    }

    /// Refuses two classes of one dataset that CLIP reads as the same words ("Cat" and "cat": its
    /// tokenizer lowercases and folds white space), within the stage and against `registered`:
    /// they would have one prompt, so no label space could tell them apart.
    func requireDistinctTokens(_ labels: [ClassLabel], data: StageData, among registered: [(name: String, stage: String)]) throws {
        var seen: [[Int]: (name: String, stage: String?)] = [:]
        for other in registered { seen[tokenizer.encode(other.name)] = (other.name, other.stage) }
        for label in labels {
            if let other = seen[label.tokenIDs] {
                throw ContinualError.sameTokens(file: data.sourceFile, line: data.firstLine[label.name] ?? 0, className: label.name,
                                                other: other.name, otherStage: other.stage)
            }
            seen[label.tokenIDs] = (label.name, nil)
        }
    }

    /// Trains a planned stage from its parent: the stage prepared before it in the same run, or
    /// else the dataset's latest snapshot of the method in the store (found when planning).
    func train(_ plan: StagePlan, after previous: PreparedStage?, progress: ((AddStageEvent) -> Void)?) throws -> PreparedStage {
        let request = plan.request, data = plan.data, labels = plan.labels
        guard let parentSnapshot = previous.map({ ParentSnapshot.prepared($0) }) ?? plan.storedParent else {
            preconditionFailure("a stage planned after another is trained after it")
        }
        let parentRows = parentSnapshot.rows, parentContext = parentSnapshot.context
        let d = dimension

        // Zero-shot baseline on the stage's test rows, in the stage's own label space.
        let clipFeatures = try features.clipTextFeatures(data.classes)
        var baseline: Accuracy?
        let test = data.samples.filter { $0.split == .test }
        if !test.isEmpty {
            let accuracy = Evaluation.accuracy(imageFeatures: normalized(test.flatMap(\.feature), dimension: d),
                                               labels: test.map(\.classIndex), textFeatures: clipFeatures, dimension: d)
            baseline = accuracy
            progress?(.baseline(accuracy))
        }

        // The new classes' label vectors: CLIP's word embeddings (zeroshot) or trained (LAMM).
        var trained: [String: TokenVectors] = [:]
        var features: [String: [Float]] = [:]
        var result: TrainingResult?
        var contextVectors: TokenVectors?
        var prompts: MaPLePrompts?
        switch request.method {
        case .zeroshot:
            for (c, label) in labels.enumerated() {
                trained[label.name] = TokenVectors(tokenCount: label.tokenIDs.count, width: width,
                                                   values: label.tokenIDs.flatMap { checkpoint.tokenEmbedding(row: $0) })
                features[label.name] = Array(clipFeatures[(c * d)..<((c + 1) * d)])
            }
        default:
            let run = try trainStage(plan, parent: parentSnapshot, clipFeatures: clipFeatures, progress: progress)
            for (c, label) in labels.enumerated() {
                trained[label.name] = TokenVectors(tokenCount: label.tokenIDs.count, width: width, values: run.labelVectors[c])
                features[label.name] = Array(run.textFeatures[(c * d)..<((c + 1) * d)])
            }
            contextVectors = run.context.map { TokenVectors(tokenCount: $0.count / width, width: width, values: $0) }
            prompts = run.prompts.maplePrompts
            result = run
        }

        // A run that ends below zero-shot CLIP on its own test rows is kept, and said.
        var warnings = plan.warnings
        // (MaPLe's image features change with its prompts; its stage is scored by `eval`.)
        if let baseline, request.method != .zeroshot, !request.method.promptsBothTowers {
            let trainedFeatures = labels.flatMap { features[$0.name]! }
            let after = Evaluation.accuracy(imageFeatures: normalized(test.flatMap(\.feature), dimension: d),
                                            labels: test.map(\.classIndex), textFeatures: trainedFeatures, dimension: d)
            if after.percent < baseline.percent {
                warnings.append(String(format: "after training, %@ scores %.2f%% on its test rows, below zero-shot CLIP's %.2f%%; "
                                       + "try a lower --lr or fewer --epochs", plan.stageName, after.percent, baseline.percent))
            }
        }

        // The precision the towers trained in, as it ran (bf16 falls back to fp32 on CPUs without it).
        var lamm = request.configuration
        lamm.precision = BF16Support.resolve(lamm.towerPrecision).precision == .bf16 ? .bf16 : nil
        let trainedInBF16 = request.method != .zeroshot && lamm.precision == .bf16
        let configuration = SnapshotConfiguration(
            method: request.method, trainingProtocol: request.trainingProtocol, template: template.text, shots: plan.shots,
            lossWeights: result.map { _ in request.configuration.lossWeights(shots: plan.shots, method: request.method) },
            lamm: request.method == .zeroshot ? nil : lamm,
            stageFile: request.csv.standardizedFileURL.path, featuresFile: request.features?.standardizedFileURL.path,
            stageSha256: data.contentSHA256, manifest: manifest(plan, result: result, precision: lamm.towerPrecision))
        var snapshot = NewSnapshot(dataset: plan.datasetName, stage: plan.stageName, method: request.method, trained: trained,
                                   configJSON: try configuration.json(), lossCurveJSON: try SnapshotConfiguration.json(result?.lossCurve ?? []))
        snapshot.run = request.run
        // MaPLe's text features depend on its deep prompts too, which the text-feature cache
        // (keyed by label row and context) does not see: they are computed when needed. So are
        // those of a bf16 run: the cache holds fp32 features only, so that an evaluation reads
        // the same numbers whichever precision trained the rows.
        if !request.method.promptsBothTowers && !trainedInBF16 { snapshot.textFeatures = features }
        snapshot.contextVectors = contextVectors
        snapshot.promptTensors = prompts?.tensors ?? []
        var commit = StageCommit(dataset: plan.datasetName, stage: plan.stageName, data: data,
                                 baseline: baseline.map { ($0.correct, $0.total) }, snapshot: snapshot)
        commit.imageFeatures = plan.encoded?.computed ?? [:]
        commit.planned = PlannedState(position: plan.position, parent: plannedParent(parentSnapshot))
        commit.claim = request.claim
        // The snapshot's rows: the parent's classes of earlier stages, then this stage's.
        let inherited = parentRows.filter { trained[$0.name] == nil }
        return PreparedStage(plan: plan, commit: commit, baseline: baseline, result: result, warnings: warnings,
                             rows: inherited + labels.map { ($0.name, trained[$0.name]!) },
                             context: contextVectors ?? parentContext, prompts: prompts)
    }

    /// What the stage is trained with and what it cost (SnapshotManifest).
    func manifest(_ plan: StagePlan, result: TrainingResult?, precision: Precision) -> SnapshotManifest {
        let rows = plan.trainingRows.flatMap { $0 }.sorted()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return SnapshotManifest(
            lammStoreVersion: lammStoreVersion, checkpointSha256: features.model.weightsSha256, stageSha256: plan.data.contentSHA256,
            trainingRows: rows, trainingRowsSha256: FloatBlob.sha256(Data(rows.map(String.init).joined(separator: ",").utf8)),
            samplingRule: SnapshotManifest.samplingRule, seed: plan.request.configuration.seed, precision: precision.rawValue,
            threads: blasThreadCount(), cores: ProcessInfo.processInfo.activeProcessorCount, seconds: result?.seconds ?? 0,
            peakMemoryBytes: Int(usage.ru_maxrss) * 1024, trainableParameters: result?.parameterCount ?? 0)
    }

    /// The parent a stage's commit expects to find as its lineage's latest.
    func plannedParent(_ parent: ParentSnapshot) -> PlannedParent {
        switch parent {
        case .none: return .none
        case .stored(let snapshot, _, _, _): return .snapshot(snapshot)
        case .prepared: return .previousInCommit
        }
    }

    /// Writes prepared stages, in order, in one transaction, and reports each. The commit checks
    /// again, under the write lock, what their plans read of the store.
    func write(_ stages: [PreparedStage]) throws -> [AddStageResult] {
        try hooks.beforeCommit?()
        let committed = try store.commit(stages.map(\.commit))
        return try zip(stages, committed).map { stage, committed in
            var summary = AddStageResult(snapshot: try store.snapshotSummary(committed.snapshot!.id!), registration: committed.registered,
                                         newlyRegistered: committed.newlyRegistered, baseline: stage.baseline?.percent,
                                         trainingSeconds: stage.result?.seconds ?? 0, steps: stage.result?.steps ?? 0,
                                         shots: stage.plan.shots, finalLoss: stage.result?.lossCurve.last?.terms,
                                         warnings: stage.warnings)
            summary.encodedImages = stage.plan.encoded?.computed.count ?? 0
            summary.reusedImageFeatures = stage.plan.encoded?.reused ?? 0
            summary.skippedImages = stage.plan.encoded?.skipped.map(\.description) ?? []
            return summary
        }
    }

    /// psi(z_i) of the parent snapshot's rows under its context, [C, D], normalised: from the
    /// store's cache for a stored snapshot, computed for one prepared in this run.
    func textFeatures(of parent: ParentSnapshot) throws -> [Float] {
        switch parent {
        case .none: return []
        case .stored(_, let context, let rows, _): return try features.textFeatures(rows, context: context)
        case .prepared: return try features.promptFeatures(parent.rows.map(\.vectors), context: parent.context)
        }
    }

    /// The dataset's latest snapshot of `method` (and `run`) in the store, with its rows of the
    /// stages before `position`. The lineage must have reached the stage before this one, and not
    /// gone past it.
    func parent(of method: Method, run: RunTag?, dataset: String, stage: String, position: Int) throws -> ParentSnapshot {
        let stages = try store.datasetNames().contains(dataset) ? try store.stages(of: store.resolveDataset(dataset).id!) : []
        let lineage = try (stages.isEmpty ? [] : store.snapshots(dataset: dataset)).filter { $0.method == method && $0.run == run }
        guard let latest = lineage.last else {
            if position > 0 {
                throw ContinualError.missingEarlierStage(method: method.rawValue, dataset: dataset, stage: stage,
                                                         missing: stages.first { $0.position == 0 }!.name)
            }
            return .none
        }
        let latestStage = try store.stage(dataset: dataset, name: latest.stage)!
        if latestStage.position > position {
            throw ContinualError.lineageOutOfOrder(method: method.rawValue, latestStage: latest.stage, stage: stage)
        }
        if latestStage.position < position - 1 {
            throw ContinualError.missingEarlierStage(method: method.rawValue, dataset: dataset, stage: stage,
                                                     missing: stages.first { $0.position == position - 1 }!.name)
        }
        return try storedParent(latest.id, position: position)
    }

    /// Stored snapshot `id` as the parent of a stage at `position`: its rows of earlier stages,
    /// its context and prompts.
    func storedParent(_ id: Int64, position: Int) throws -> ParentSnapshot {
        .stored(snapshot: id, context: try features.context(ofSnapshot: id),
                rows: try store.labelRows(snapshot: id).filter { $0.stage.position < position },
                prompts: try features.maplePrompts(ofSnapshot: id))
    }

    /// Indices of each class's training rows (`--shots` of them, sampled with the seed), and n,
    /// the shots per class of lambda1 = 1/n: the mean count sampled per class (so `--shots 100`
    /// over 16 rows a class is n = 16).
    func trainingRows(_ data: StageData, request: AddStageRequest, warnings: inout [String]) throws -> ([[Int]], Int) {
        // Shots count training images: the augmented views of one image go together.
        var byClass = [[[Int]]](repeating: [], count: data.classes.count)
        var groupOf: [String: (Int, Int)] = [:]
        for (index, sample) in data.samples.enumerated() where sample.split == .train {
            if let path = sample.imagePath, let (c, g) = groupOf[path] {
                byClass[c][g].append(index)
            } else {
                if let path = sample.imagePath { groupOf[path] = (sample.classIndex, byClass[sample.classIndex].count) }
                byClass[sample.classIndex].append([index])
            }
        }
        if request.method != .zeroshot {
            let empty = data.classes.indices.filter { byClass[$0].isEmpty }.map { data.classes[$0] }
            guard empty.isEmpty else { throw ContinualError.noTrainingRows(file: data.sourceFile, classes: empty) }
        }
        var random = SplitMix64(seed: request.configuration.seed)
        if let shots = request.configuration.shots {
            for c in byClass.indices {
                if byClass[c].count < shots {
                    warnings.append("class '\(displayName(data.classes[c]))' has \(byClass[c].count) training rows, fewer than --shots \(shots); using all of them")
                } else {
                    byClass[c].shuffle(using: &random)
                    byClass[c] = Array(byClass[c].prefix(shots)).sorted { $0[0] < $1[0] }
                }
            }
        }
        // n is what was sampled: --shots beyond a class's rows gives that class all of them.
        let shots = Int((Double(byClass.map(\.count).reduce(0, +)) / Double(max(data.classes.count, 1))).rounded())
        return (byClass.map { $0.flatMap { $0 } }, shots)
    }

    /// The stage to add to: the one named (which must then hold the same data if it exists),
    /// else a registered stage with identical content, else Set<n+1>. Data with a registered
    /// stage's classes but other samples or features is that stage changed, which is refused.
    func resolveStage(dataset: String, requested: String?, data: StageData) throws -> (String, StageRecord?) {
        guard let datasetRecord = try? store.resolveDataset(dataset) else { return (requested ?? "Set1", nil) }
        let stages = try store.stages(of: datasetRecord.id!)
        if let requested {
            guard let existing = stages.first(where: { $0.name == requested }) else { return (requested, nil) }
            try requireSameContent(existing, data, dataset: dataset)
            return (requested, existing)
        }
        var sameClasses: (StageRecord, StageDifference)?
        for stage in stages {
            guard let difference = try store.stageDifference(stage.id!, data) else { return (stage.name, stage) }
            if case .classes = difference {} else if sameClasses == nil { sameClasses = (stage, difference) }
        }
        if let (stage, difference) = sameClasses {
            throw ContinualError.registeredStageChanged(file: data.sourceFile, dataset: dataset, stage: stage.name,
                                                        detail: describe(difference, stage: stage.name, data: data))
        }
        return ("Set\(stages.count + 1)", nil)
    }

    func requireSameContent(_ stage: StageRecord, _ data: StageData, dataset: String) throws {
        guard let difference = try store.stageDifference(stage.id!, data) else { return }
        throw ContinualError.stageContentDiffers(dataset: dataset, stage: stage.name, detail: describe(difference, stage: stage.name, data: data))
    }

    /// A difference between `data` and the registered stage, as a message says it.
    func describe(_ difference: StageDifference, stage: String, data: StageData) -> String {
        switch difference {
        case let .classes(registered):
            if let differing = zip(registered, data.classes).first(where: { $0 != $1 }) {
                return "class '\(displayName(differing.0))' where the file has '\(displayName(differing.1))'"
            }
            return "\(registered.count) classes registered, \(data.classes.count) in the file"
        case let .sampleCount(registered):
            return "\(registered) samples registered, \(data.samples.count) in the file"
        case let .sampleLabel(row):
            return "sample \(row) (0-based, in file order) has another class or split than stage \(stage)'s"
        case let .feature(row):
            return "the image features differ from stage \(stage)'s, first at sample \(row) (0-based, in file order)"
        }
    }
}
