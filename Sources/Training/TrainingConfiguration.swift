// A run's settings (the official code's by default), its progress and its loss curve.

import CLIP
import Kernels
import Methods

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
    /// The arithmetic of the towers while training: nil for fp32 (as every record from before
    /// bf16 reads), `.bf16` for bf16 products with fp32 accumulation. The trained vectors, the
    /// losses and everything the store keeps besides them stay fp32 (StageWriter).
    public var precision: Precision?

    public init() {}

    /// The precision the towers train in.
    public var towerPrecision: Precision { precision ?? .fp32 }

    /// The stored keys are snake_case (`lambda_cos`); decoding them back gives `lambdaCos`, so
    /// the acronyms' keys are spelled that way (the encoded text is unchanged).
    enum CodingKeys: String, CodingKey {
        case learningRate, momentum, weightDecay, batchSize, epochs, warmupEpochs, warmupLearningRate
        case lambdaWC = "lambdaWc", lambdaCOS = "lambdaCos", lambdaKD = "lambdaKd"
        case temperature, seed, labelTokens, labelInitialisation, shots, contextLength, promptDepth, precision
    }

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

