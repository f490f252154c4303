import CLIP
import Foundation
import Kernels
// The trainer is told which method to train, so every user of it names one.
@_exported import Methods

/// Which class-name tokens become trainable vectors `<M_i>`.
public enum LabelTokens: String, Codable, Sendable, CaseIterable {
    /// Every class-name token (the default).
    case all
    /// Only the first; the others stay CLIP's word embeddings (as the official code does).
    case first
}

/// How `<M_i>` starts (LAMM.md Table 5): from the class name's word embeddings, or random.
public enum LabelInitialisation: String, Codable, Sendable, CaseIterable {
    case classname
    case random
}

/// The methods `Trainer` trains (LAMM.md): LAMM the label vectors `<M_i>` with the hierarchical
/// loss; CoOp the shared context vectors with cross-entropy; CoOp+LAMM both, with the hierarchical
/// loss. Zero-shot CLIP has nothing to train; MaPLe's prompts are `MaPLeTrainer`'s.
extension Trainer {
    public static let methods: [Method] = [.lamm, .coop, .coopLAMM]
}

/// Hyper-parameters of a run, defaulting to the official code's (LAMM.md, Training setup).
public struct LAMMConfiguration: Codable, Sendable, Equatable {
    public var learningRate: Float = 0.002
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var batchSize: Int = 32
    public var epochs: Int = 50
    public var warmupEpochs: Int = 1
    public var warmupLearningRate: Float = 1e-5
    /// lambda1; nil means 1/n with n the shots per class.
    public var lambdaWC: Float?
    public var lambdaCOS: Float = 1
    public var lambdaKD: Float = 0.05
    public var temperature: Float = 2
    public var seed: UInt64 = 1
    public var labelTokens: LabelTokens = .all
    public var labelInitialisation: LabelInitialisation = .classname
    /// Training rows per class; nil means all that were given.
    public var shots: Int?
    /// CoOp's context length: 4 starts from the words of `a photo of a`; any other length starts
    /// from N(0, 0.02^2), as CoOp's other setting.
    public var contextLength: Int = 4
    /// MaPLe's prompt depth J: 1 prompts the towers' inputs only, J > 1 also the entries of
    /// blocks 1 ... J-1 of both towers.
    public var promptDepth: Int = 9

    public init() {}

    /// The official settings of a method: LAMM's and CoOp's (the defaults above), or MaPLe's
    /// (configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml: lr 0.0035, batch 4, 5 epochs,
    /// 2 context vectors, depth 9).
    public static func defaults(for method: Method) -> LAMMConfiguration {
        var configuration = LAMMConfiguration()
        if method.promptsBothTowers {
            configuration.learningRate = 0.0035
            configuration.batchSize = 4
            configuration.epochs = 5
            configuration.contextLength = 2
        }
        return configuration
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(baseLearningRate: learningRate, epochs: epochs, warmupEpochs: warmupEpochs,
                             warmupLearningRate: warmupLearningRate)
    }

    public func lossWeights(shots: Int) -> LossWeights {
        LossWeights(wc: lambdaWC ?? 1 / Float(max(shots, 1)), cos: lambdaCOS, kd: lambdaKD, temperature: temperature)
    }

    /// The weights a method trains with: CoOp's cross-entropy alone, or the hierarchical loss.
    public func lossWeights(shots: Int, method: Method) -> LossWeights {
        method.usesHierarchicalLoss ? lossWeights(shots: shots) : LossWeights(wc: 0, cos: 0, kd: 0, temperature: temperature)
    }
}

/// A class whose label vectors are trained (LAMM), or whose prompt is (CoOp).
public struct TrainableClass: Sendable {
    public var label: ClassLabel
    /// psi(y_i), CLIP's original prompt feature, L2-normalised [D].
    public var clipTextFeature: [Float]

    public init(label: ClassLabel, clipTextFeature: [Float]) {
        self.label = label
        self.clipTextFeature = clipTextFeature
    }
}

/// A class of the label space whose text feature does not change (`--protocol class` under
/// LAMM: earlier stages' classes, with their stored label vectors and the fixed template).
public struct FrozenClass: Sendable {
    public var name: String
    /// Its text feature with its stored label vectors, L2-normalised [D].
    public var textFeature: [Float]
    public var clipTextFeature: [Float]

    public init(name: String, textFeature: [Float], clipTextFeature: [Float]) {
        self.name = name
        self.textFeature = textFeature
        self.clipTextFeature = clipTextFeature
    }
}

/// A class of the label space whose label vectors stay fixed but whose prompt moves with the
/// trained context (`--protocol class` under CoOp and CoOp+LAMM).
public struct ContextBoundClass: Sendable {
    public var name: String
    /// Its stored label vectors, tokens x W.
    public var labelVectors: [Float]
    public var clipTextFeature: [Float]

    public init(name: String, labelVectors: [Float], clipTextFeature: [Float]) {
        self.name = name
        self.labelVectors = labelVectors
        self.clipTextFeature = clipTextFeature
    }
}

/// What a run trains on. The label space is `frozen`, then `contextBound`, then `trainable`;
/// labels index into it.
public struct TrainingTask: Sendable {
    public var frozen: [FrozenClass]
    public var contextBound: [ContextBoundClass]
    public var trainable: [TrainableClass]
    /// Where CoOp's context starts, contextLength x W (a parent snapshot's, to continue it);
    /// nil for the configuration's initialisation.
    public var context: [Float]?
    /// L2-normalised image features [N, D] of the training samples.
    public var imageFeatures: [Float]
    public var labels: [Int]
    /// n, the shots per class (lambda1 = 1/n).
    public var shots: Int

    public init(frozen: [FrozenClass] = [], contextBound: [ContextBoundClass] = [], trainable: [TrainableClass],
                context: [Float]? = nil, imageFeatures: [Float], labels: [Int], shots: Int) {
        self.frozen = frozen
        self.contextBound = contextBound
        self.trainable = trainable
        self.context = context
        self.imageFeatures = imageFeatures
        self.labels = labels
        self.shots = shots
    }
}

public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var terms: LossTerms
    public var learningRate: Float
    public var elapsed: Double
    public var remaining: Double
}

/// Mean loss terms of one epoch.
public struct EpochLoss: Codable, Sendable, Equatable {
    public var epoch: Int
    public var learningRate: Float
    public var terms: LossTerms
}

public struct TrainingResult: Sendable {
    /// Every trainable class's label vectors after training, tokens x W (all class-name tokens,
    /// the untrained ones CLIP's word embeddings), in the order of `TrainingTask.trainable`.
    public var labelVectors: [[Float]]
    /// The trained context, contextLength x W, for methods that train one.
    public var context: [Float]?
    /// L2-normalised text features of the trainable classes' final prompts [C, D].
    public var textFeatures: [Float]
    public var lossCurve: [EpochLoss]
    public var seconds: Double
    public var steps: Int
}

/// Trains prompt vectors through the frozen text tower: LAMM's label vectors `<M_i>` of the new
/// classes, CoOp's shared context, or both. Nothing else changes.
public final class Trainer: Sendable {
    public let tower: TextTower
    public let template: PromptTemplate
    public let tokenEmbedding: @Sendable (Int) -> [Float]
    public let logitScale: Float
    public let configuration: LAMMConfiguration
    public let method: Method

    public init(checkpoint: CLIPCheckpoint, tower: TextTower, template: PromptTemplate, configuration: LAMMConfiguration,
                method: Method = .lamm) {
        self.tower = tower
        self.template = template
        self.tokenEmbedding = { checkpoint.tokenEmbedding(row: $0) }
        self.logitScale = checkpoint.logitScale
        self.configuration = configuration
        self.method = method
    }

    var width: Int { tower.configuration.text.hiddenSize }
    var dimension: Int { tower.configuration.projectionDim }

    /// Prompts with their trainable rows, and the parameter matrix theta they read: the context
    /// rows first (CoOp), then the label rows (LAMM). Vectors after theta are fixed (the label
    /// vectors of context-bound classes).
    struct Parameters {
        var prompts: [PromptRows]
        /// theta, [R, W].
        var values: [Float]
        /// Fixed vectors read by prompts, after theta in the tower's vector matrix.
        var fixed: [Float] = []
        var contextRows: Int
        /// Where each trainable class's label rows start in `values`, and how many.
        var ranges: [Range<Int>]

        var vectors: [Float] { fixed.isEmpty ? values : values + fixed }
    }

    /// The initial context: a parent's, else the words of the template's prefix (CoOp's
    /// `ctx_init`) when the length matches, else N(0, 0.02^2).
    func initialContext(_ given: [Float]?, random: inout SplitMix64) -> [Float] {
        if let given { return given }
        if configuration.contextLength == template.prefix.count { return template.prefix.flatMap(tokenEmbedding) }
        return (0..<(configuration.contextLength * width)).map { _ in 0.02 * random.nextGaussian() }
    }

    func initialParameters(_ task: TrainingTask, random: inout SplitMix64) -> Parameters {
        let context = method.trainsContext ? initialContext(task.context, random: &random) : []
        let contextRows = context.count / width
        var parameters = Parameters(prompts: [], values: context, contextRows: contextRows, ranges: [])
        let contextPrompt: [PromptRow]? = method.trainsContext ? (0..<contextRows).map { .vector(index: $0) } : nil
        func prompt(_ label: [PromptRow]) -> PromptRows { template.prompt(context: contextPrompt, label: label) }
        for cls in task.trainable {
            let ids = cls.label.tokenIDs
            let trainedCount = !method.trainsLabels ? 0 : configuration.labelTokens == .all ? ids.count : 1
            let first = parameters.values.count / width
            var rows: [PromptRow] = []
            for (t, id) in ids.enumerated() {
                if t < trainedCount {
                    rows.append(.vector(index: first + t))
                    switch configuration.labelInitialisation {
                    case .classname: parameters.values += tokenEmbedding(id)
                    // CoOp's initialisation of learnable vectors, N(0, 0.02^2).
                    case .random: parameters.values += (0..<width).map { _ in 0.02 * random.nextGaussian() }
                    }
                } else {
                    rows.append(.token(id))
                }
            }
            parameters.prompts.append(prompt(rows))
            parameters.ranges.append(first..<(first + trainedCount))
        }
        // Context-bound classes read their fixed label vectors after theta.
        let thetaRows = parameters.values.count / width
        for cls in task.contextBound {
            let first = thetaRows + parameters.fixed.count / width
            parameters.prompts.append(prompt((0..<(cls.labelVectors.count / width)).map { .vector(index: first + $0) }))
            parameters.fixed += cls.labelVectors
        }
        return parameters
    }

    /// The loss of one batch and its gradient with respect to theta (LAMM.md, Losses): forward
    /// the prompts, the feature- and logit-space terms over the whole label space (frozen classes
    /// first), back through the tower, plus lambda1 * L_WC on the label rows (the context has no
    /// word to stay near).
    func objective(_ parameters: Parameters, reference: [Float], images: [Float], labels: [Int],
                   frozenFeatures: [Float], clipFeatures: [Float], weights: LossWeights) throws -> (LossTerms, [Float]) {
        let state = try tower.forward(parameters.prompts, vectors: parameters.vectors)
        // The tower returns the trainable classes' features first, then the context-bound ones';
        // the label space puts the context-bound classes before the trainable ones.
        let d = dimension
        let trainableCount = parameters.ranges.count
        let features = state.normalizedFeatures
        let trainableFeatures = features[0..<(trainableCount * d)]
        let boundFeatures = features[(trainableCount * d)...]
        let batch = FeatureLossBatch(imageFeatures: images, labels: labels,
                                     textFeatures: frozenFeatures + boundFeatures + trainableFeatures,
                                     clipTextFeatures: clipFeatures, logitScale: logitScale, dimension: d)
        var (terms, dText) = featureLoss(batch, weights: weights)
        let dBound = dText[(frozenFeatures.count)..<(frozenFeatures.count + boundFeatures.count)]
        let dTrainable = dText[(frozenFeatures.count + boundFeatures.count)...]
        var gradient = Array(try tower.backward(state, dNormalizedFeatures: Array(dTrainable + dBound))[0..<parameters.values.count])
        if weights.wc != 0 {
            let labelStart = parameters.contextRows * width
            let (wc, wcGradient) = weightConsolidation(Array(parameters.values[labelStart...]), reference: Array(reference[labelStart...]))
            terms.wc = wc
            terms.total += weights.wc * wc
            for i in wcGradient.indices { gradient[labelStart + i] += weights.wc * wcGradient[i] }
        }
        return (terms, gradient)
    }

    public func train(_ task: TrainingTask, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingResult {
        guard Self.methods.contains(method) else { throw TrainingError.untrainableMethod(method) }
        try configuration.validate()
        let start = Date()
        var random = SplitMix64(seed: configuration.seed)
        var parameters = initialParameters(task, random: &random)
        let reference = parameters.values
        let weights = configuration.lossWeights(shots: task.shots, method: method)
        let d = dimension
        let frozenFeatures = task.frozen.flatMap(\.textFeature)
        let clipFeatures = task.frozen.flatMap(\.clipTextFeature) + task.contextBound.flatMap(\.clipTextFeature)
            + task.trainable.flatMap(\.clipTextFeature)
        let layout = parameters
        let (curve, step) = try configuration.trainEpochs(samples: task.labels.count, values: &parameters.values, random: &random,
                                                          start: start, progress: progress) { values, batch, _ in
            var images = [Float](); images.reserveCapacity(batch.count * d)
            for i in batch { images += task.imageFeatures[(i * d)..<((i + 1) * d)] }
            var current = layout
            current.values = values
            return try objective(current, reference: reference, images: images, labels: batch.map { task.labels[$0] },
                                 frozenFeatures: frozenFeatures, clipFeatures: clipFeatures, weights: weights)
        }

        let final = try tower.forward(Array(parameters.prompts.prefix(task.trainable.count)), vectors: parameters.vectors)
        let labelVectors = task.trainable.enumerated().map { c, cls -> [Float] in
            let trained = parameters.ranges[c]
            return cls.label.tokenIDs.enumerated().flatMap { t, id -> [Float] in
                t < trained.count ? Array(parameters.values[((trained.lowerBound + t) * width)..<((trained.lowerBound + t + 1) * width)])
                                  : tokenEmbedding(id)
            }
        }
        return TrainingResult(labelVectors: labelVectors,
                              context: method.trainsContext ? Array(parameters.values[0..<(parameters.contextRows * width)]) : nil,
                              textFeatures: final.normalizedFeatures, lossCurve: curve,
                              seconds: Date().timeIntervalSince(start), steps: step)
    }
}
