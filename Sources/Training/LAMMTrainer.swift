import CLIP
import Foundation
import Kernels

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

/// Hyper-parameters of a LAMM run, defaulting to the official code's (LAMM.md, Training setup).
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

    public init() {}

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(baseLearningRate: learningRate, epochs: epochs, warmupEpochs: warmupEpochs,
                             warmupLearningRate: warmupLearningRate)
    }

    public func lossWeights(shots: Int) -> LossWeights {
        LossWeights(wc: lambdaWC ?? 1 / Float(max(shots, 1)), cos: lambdaCOS, kd: lambdaKD, temperature: temperature)
    }
}

/// A class whose label vectors are trained.
public struct TrainableClass: Sendable {
    public var label: ClassLabel
    /// psi(y_i), CLIP's original prompt feature, L2-normalised [D].
    public var clipTextFeature: [Float]

    public init(label: ClassLabel, clipTextFeature: [Float]) {
        self.label = label
        self.clipTextFeature = clipTextFeature
    }
}

/// A class of the label space that is not trained (`--protocol class`: earlier stages' classes).
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

/// What a LAMM run trains on. The label space is `frozen` followed by `trainable`; labels
/// index into it.
public struct LAMMTask: Sendable {
    public var frozen: [FrozenClass]
    public var trainable: [TrainableClass]
    /// L2-normalised image features [N, D] of the training samples.
    public var imageFeatures: [Float]
    public var labels: [Int]
    /// n, the shots per class (lambda1 = 1/n).
    public var shots: Int

    public init(frozen: [FrozenClass] = [], trainable: [TrainableClass], imageFeatures: [Float], labels: [Int], shots: Int) {
        self.frozen = frozen
        self.trainable = trainable
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

public struct LAMMResult: Sendable {
    /// Every trainable class's label vectors after training, tokens x W (all class-name tokens,
    /// the untrained ones unchanged), in the order of `LAMMTask.trainable`.
    public var labelVectors: [[Float]]
    /// L2-normalised text features of the trained prompts [C, D].
    public var textFeatures: [Float]
    public var lossCurve: [EpochLoss]
    public var seconds: Double
    public var steps: Int
}

/// Trains the label vectors `<M_i>` of new classes with LAMM's hierarchical loss, through the
/// frozen text tower. Nothing but those vectors changes.
public final class LAMMTrainer: Sendable {
    public let tower: TextTower
    public let template: PromptTemplate
    public let tokenEmbedding: @Sendable (Int) -> [Float]
    public let logitScale: Float
    public let configuration: LAMMConfiguration

    public init(checkpoint: CLIPCheckpoint, tower: TextTower, template: PromptTemplate, configuration: LAMMConfiguration) {
        self.tower = tower
        self.template = template
        self.tokenEmbedding = { checkpoint.tokenEmbedding(row: $0) }
        self.logitScale = checkpoint.logitScale
        self.configuration = configuration
    }

    var width: Int { tower.configuration.text.hiddenSize }
    var dimension: Int { tower.configuration.projectionDim }

    /// Prompts z_i with their trainable rows, and the parameter matrix they read.
    struct Parameters {
        var prompts: [PromptRows]
        /// theta, [R, W].
        var values: [Float]
        /// Where each class's trainable rows start in `values`, and how many.
        var ranges: [Range<Int>]
    }

    func initialParameters(_ classes: [TrainableClass], random: inout SeededRandom) -> Parameters {
        var parameters = Parameters(prompts: [], values: [], ranges: [])
        for cls in classes {
            let ids = cls.label.tokenIDs
            let trainedCount = configuration.labelTokens == .all ? ids.count : 1
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
            parameters.prompts.append(template.prompt(label: rows))
            parameters.ranges.append(first..<(first + trainedCount))
        }
        return parameters
    }

    /// The hierarchical loss of one batch and its gradient with respect to theta (LAMM.md, Losses):
    /// forward the trainable prompts, the feature- and logit-space terms over the whole label
    /// space (frozen classes first), back through the tower, plus lambda1 * L_WC.
    func objective(_ parameters: Parameters, reference: [Float], images: [Float], labels: [Int],
                   frozenFeatures: [Float], clipFeatures: [Float], weights: LossWeights) throws -> (LossTerms, [Float]) {
        let d = dimension
        let state = try tower.forward(parameters.prompts, vectors: parameters.values)
        let batch = FeatureLossBatch(imageFeatures: images, labels: labels, textFeatures: frozenFeatures + state.normalizedFeatures,
                                     clipTextFeatures: clipFeatures, logitScale: logitScale, dimension: d)
        var (terms, dText) = featureLoss(batch, weights: weights)
        var gradient = try tower.backward(state, dNormalizedFeatures: Array(dText[(frozenFeatures.count)...]))
        if weights.wc != 0 {
            let (wc, wcGradient) = weightConsolidation(parameters.values, reference: reference)
            terms.wc = wc
            terms.total += weights.wc * wc
            for i in gradient.indices { gradient[i] += weights.wc * wcGradient[i] }
        }
        return (terms, gradient)
    }

    public func train(_ task: LAMMTask, progress: ((TrainingProgress) -> Void)? = nil) throws -> LAMMResult {
        let start = Date()
        var random = SeededRandom(seed: configuration.seed)
        var parameters = initialParameters(task.trainable, random: &random)
        let reference = parameters.values
        let weights = configuration.lossWeights(shots: task.shots)
        let d = dimension
        let frozenFeatures = task.frozen.flatMap(\.textFeature)
        let clipFeatures = task.frozen.flatMap(\.clipTextFeature) + task.trainable.flatMap(\.clipTextFeature)
        let sampleCount = task.labels.count
        let batchSize = min(configuration.batchSize, sampleCount)
        // Dassl drops the last incomplete batch when the data hold at least one full batch.
        let stepsPerEpoch = max(sampleCount / max(batchSize, 1), 1)
        let totalSteps = stepsPerEpoch * configuration.epochs
        var optimizer = SGD(momentum: configuration.momentum, weightDecay: configuration.weightDecay)
        var curve: [EpochLoss] = []
        var step = 0
        var order = Array(0..<sampleCount)

        for epoch in 0..<configuration.epochs {
            let learningRate = configuration.schedule.learningRate(epoch: epoch)
            order.shuffle(using: &random)
            var sum = LossTerms()
            for s in 0..<stepsPerEpoch {
                let indices = order[(s * batchSize)..<((s + 1) * batchSize)]
                var images = [Float](); images.reserveCapacity(batchSize * d)
                var labels = [Int](); labels.reserveCapacity(batchSize)
                for i in indices {
                    images += task.imageFeatures[(i * d)..<((i + 1) * d)]
                    labels.append(task.labels[i])
                }
                let (terms, gradient) = try objective(parameters, reference: reference, images: images, labels: labels,
                                                      frozenFeatures: frozenFeatures, clipFeatures: clipFeatures, weights: weights)
                optimizer.step(&parameters.values, gradient: gradient, learningRate: learningRate)
                step += 1
                sum.ce += terms.ce; sum.wc += terms.wc; sum.cos += terms.cos; sum.kd += terms.kd; sum.total += terms.total
                if let progress {
                    let elapsed = Date().timeIntervalSince(start)
                    progress(TrainingProgress(epoch: epoch, epochs: configuration.epochs, step: s, stepsPerEpoch: stepsPerEpoch,
                                              terms: terms, learningRate: learningRate, elapsed: elapsed,
                                              remaining: elapsed / Double(step) * Double(totalSteps - step)))
                }
            }
            let n = Float(stepsPerEpoch)
            curve.append(EpochLoss(epoch: epoch, learningRate: learningRate,
                                   terms: LossTerms(ce: sum.ce / n, wc: sum.wc / n, cos: sum.cos / n, kd: sum.kd / n, total: sum.total / n)))
        }

        let final = try tower.forward(parameters.prompts, vectors: parameters.values)
        let labelVectors = task.trainable.enumerated().map { c, cls -> [Float] in
            let trained = parameters.ranges[c]
            return cls.label.tokenIDs.enumerated().flatMap { t, id -> [Float] in
                t < trained.count ? Array(parameters.values[((trained.lowerBound + t) * width)..<((trained.lowerBound + t + 1) * width)])
                                  : tokenEmbedding(id)
            }
        }
        return LAMMResult(labelVectors: labelVectors, textFeatures: final.normalizedFeatures, lossCurve: curve,
                          seconds: Date().timeIntervalSince(start), steps: step)
    }
}
