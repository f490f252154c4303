// Trains MaPLe's prompts (and, for MaPLe+LAMM, the new classes' label vectors) through both
// frozen towers: each step forwards every class's prompt through the text tower and a batch of
// freshly augmented images through the prompted image tower, and back-propagates the loss
// (MaPLeLoss.swift) into the context, the deep prompts and the coupling maps (MaPLePrompts.swift).

import CLIP
import Kernels
import Foundation

/// One class of a MaPLe label space and where its label rows come from.
public struct MaPLeClass: Sendable {
    public var label: ClassLabel
    /// Label vectors that stay fixed [tokens, Wt] (MaPLe+LAMM: a class of an earlier stage); nil
    /// for CLIP's word embeddings, or for vectors trained now when `trainable`.
    public var fixedVectors: [Float]?
    /// MaPLe+LAMM trains this class's label vectors (a class of the new stage).
    public var trainable: Bool

    public init(label: ClassLabel, fixedVectors: [Float]? = nil, trainable: Bool = false) {
        self.label = label
        self.fixedVectors = fixedVectors
        self.trainable = trainable
    }
}

/// What a MaPLe run trains on.
public struct MaPLeTask: Sendable {
    /// The label space; labels index into it.
    public var classes: [MaPLeClass]
    /// The prompts to continue (a parent snapshot's); nil starts new ones.
    public var prompts: MaPLePrompts?
    /// The class of each training image.
    public var labels: [Int]
    /// Pixels [3, S, S] of training image `sample` as seen in epoch `epoch` (a fresh random
    /// resized crop and flip per epoch, as the official transforms draw them).
    public var pixels: @Sendable (_ sample: Int, _ epoch: Int) throws -> [Float]
    /// n, the shots per class (lambda1 = 1/n).
    public var shots: Int

    public init(classes: [MaPLeClass], prompts: MaPLePrompts?, labels: [Int], shots: Int,
                pixels: @escaping @Sendable (_ sample: Int, _ epoch: Int) throws -> [Float]) {
        self.classes = classes
        self.prompts = prompts
        self.labels = labels
        self.shots = shots
        self.pixels = pixels
    }
}

public struct MaPLeResult: Sendable {
    /// What every trainer reports: the loss curve, time and steps (and the context).
    public var summary: TrainingResult {
        TrainingResult(labelVectors: labelVectors, context: prompts.context, textFeatures: textFeatures, lossCurve: lossCurve,
                       seconds: seconds, steps: steps)
    }

    public var prompts: MaPLePrompts
    /// Label vectors of the trainable classes after training, tokens x Wt (untrained tokens keep
    /// CLIP's word embeddings), in the order of the task's classes.
    public var labelVectors: [[Float]]
    /// L2-normalised text features of every class of the task under the trained prompts [K, D].
    public var textFeatures: [Float]
    public var lossCurve: [EpochLoss]
    public var seconds: Double
    public var steps: Int
}

public final class MaPLeTrainer: Sendable {
    public static let methods: [Method] = [.maple, .mapleLAMM]

    public let text: TextTower
    public let vision: VisionTower
    public let template: PromptTemplate
    public let tokenEmbedding: @Sendable (Int) -> [Float]
    public let logitScale: Float
    public let configuration: LAMMConfiguration
    public let method: Method

    public init(checkpoint: CLIPCheckpoint, text: TextTower, vision: VisionTower, template: PromptTemplate,
                configuration: LAMMConfiguration, method: Method = .maple) {
        self.text = text
        self.vision = vision
        self.template = template
        self.tokenEmbedding = { checkpoint.tokenEmbedding(row: $0) }
        self.logitScale = checkpoint.logitScale
        self.configuration = configuration
        self.method = method
    }

    var textWidth: Int { text.configuration.text.hiddenSize }
    var visionWidth: Int { vision.configuration.vision.hiddenSize }
    var dimension: Int { text.configuration.projectionDim }

    /// The deepest prompts both towers can take: one per block.
    public var maximumDepth: Int { min(text.configuration.text.hiddenLayers, vision.configuration.vision.hiddenLayers) }

    /// New prompts as the configuration asks: the context from the first n words of the
    /// template's prefix (`a photo` for n = 2) when it has that many, else N(0, 0.02^2).
    public func initialPrompts(random: inout SplitMix64) -> MaPLePrompts {
        let n = configuration.contextLength
        let words = n <= template.prefix.count ? template.prefix.prefix(n).flatMap(tokenEmbedding) : nil
        return MaPLePrompts.initial(contextLength: n, depth: configuration.promptDepth, textWidth: textWidth,
                                    visionWidth: visionWidth, contextInit: words, random: &random)
    }

    /// Checks the options against the towers and the prompts a run continues.
    public func validate(continuing prompts: MaPLePrompts?) throws {
        try configuration.validate()
        guard (1...maximumDepth).contains(configuration.promptDepth) else {
            throw TrainingError.outOfRange(option: "--prompt-depth", value: "\(configuration.promptDepth)",
                                           allowed: "1 to \(maximumDepth), the blocks of this model's towers")
        }
        if let prompts, prompts.contextLength != configuration.contextLength || prompts.depth != configuration.promptDepth {
            throw TrainingError.promptShapeDiffers(parentContext: prompts.contextLength, parentDepth: prompts.depth,
                                                   contextLength: configuration.contextLength, depth: configuration.promptDepth)
        }
    }

    // MARK: Prompts of the label space

    /// The text tower's inputs for the label space: each class's prompt z (and, with
    /// `references`, after all of them its prompt y with CLIP's class tokens), and the vector
    /// matrix they read: the context, then trained label rows, then fixed label rows.
    public struct TextInputs: Sendable {
        public var prompts: [PromptRows]
        public var fixed: [Float]
        /// Where each trainable class's trained rows start in the label values, and how many.
        public var ranges: [Range<Int>]
    }

    func trainedCount(_ cls: MaPLeClass) -> Int {
        guard cls.trainable, method.trainsLabels else { return 0 }
        return configuration.labelTokens == .all ? cls.label.tokenIDs.count : 1
    }

    public func textInputs(_ classes: [MaPLeClass], labelRows: Int, references: Bool) -> TextInputs {
        let n = configuration.contextLength
        let context: [PromptRow] = (0..<n).map { .vector(index: $0) }
        var inputs = TextInputs(prompts: [], fixed: [], ranges: [])
        var trainedRow = 0
        for cls in classes {
            let ids = cls.label.tokenIDs
            var rows: [PromptRow]
            if let fixed = cls.fixedVectors {
                let first = n + labelRows + inputs.fixed.count / textWidth
                rows = (0..<(fixed.count / textWidth)).map { .vector(index: first + $0) }
                inputs.fixed += fixed
                inputs.ranges.append(0..<0)
            } else {
                let trained = trainedCount(cls)
                rows = ids.enumerated().map { t, id in t < trained ? .vector(index: n + trainedRow + t) : .token(id) }
                inputs.ranges.append(trainedRow..<(trainedRow + trained))
                trainedRow += trained
            }
            inputs.prompts.append(template.prompt(leadingContext: context, label: rows))
        }
        if references {
            for cls in classes { inputs.prompts.append(template.prompt(leadingContext: context, label: cls.label.tokenIDs.map { .token($0) })) }
        }
        return inputs
    }

    /// The trainable classes' initial label rows (their word embeddings, or N(0, 0.02^2)).
    public func initialLabelValues(_ classes: [MaPLeClass], random: inout SplitMix64) -> [Float] {
        var values: [Float] = []
        for cls in classes where cls.fixedVectors == nil {
            for id in cls.label.tokenIDs.prefix(trainedCount(cls)) {
                switch configuration.labelInitialisation {
                case .classname: values += tokenEmbedding(id)
                case .random: values += (0..<textWidth).map { _ in 0.02 * random.nextGaussian() }
                }
            }
        }
        return values
    }

    /// L2-normalised text features [K, D] of the classes under `prompts` (evaluation; no
    /// activations kept). Trainable classes read `labelValues`, laid out as training lays them out.
    public func textFeatures(_ classes: [MaPLeClass], prompts: MaPLePrompts, labelValues: [Float] = []) throws -> [Float] {
        let inputs = textInputs(classes, labelRows: labelValues.count / textWidth, references: false)
        let features = try text.features(inputs.prompts, vectors: prompts.context + labelValues + inputs.fixed,
                                         deep: prompts.textDeepPrompts)
        return l2Normalize(features, rows: classes.count, columns: dimension).out
    }

    /// L2-normalised image features [count, D] of preprocessed images through the prompted tower.
    public func imageFeatures(pixels: [Float], count: Int, prompts: MaPLePrompts) throws -> [Float] {
        try vision.encode(pixels: pixels, count: count, prompts: prompts.visionPrompts, normalized: true)
    }

    // MARK: One step

    /// The loss of a batch and its gradient with respect to [prompts.flattened, labelValues]:
    /// one training step's forward and backward through both towers. `reference` is the label
    /// vectors' starting point (L_WC); `pixels` [B, 3, S, S] the batch's preprocessed views.
    public func objective(_ prompts: MaPLePrompts, labelValues: [Float], reference: [Float], classes: [MaPLeClass],
                   pixels: [Float], labels: [Int], weights: LossWeights) throws -> (LossTerms, [Float]) {
        let lamm = method.trainsLabels
        let k = classes.count, d = dimension, n = prompts.contextLength
        let inputs = textInputs(classes, labelRows: labelValues.count / textWidth, references: lamm)
        let textState = try text.forward(inputs.prompts, vectors: prompts.context + labelValues + inputs.fixed,
                                         deep: prompts.textDeepPrompts)
        let visionState = try vision.forward(pixels: pixels, count: labels.count, prompts: prompts.visionPrompts)
        let features = textState.normalizedFeatures
        let batch = MaPLeLossBatch(imageFeatures: visionState.normalizedFeatures, labels: labels,
                                   textFeatures: Array(features[0..<(k * d)]),
                                   referenceFeatures: lamm ? Array(features[(k * d)...]) : nil,
                                   logitScale: logitScale, dimension: d)
        var (terms, dLoss) = mapleLoss(batch, weights: lamm ? weights : nil)
        let textGradients = try text.gradients(textState, dNormalizedFeatures: dLoss.text + dLoss.reference)
        let visionGradients = try vision.backward(visionState, dNormalizedFeatures: dLoss.image)
        let dContext = Array(textGradients.vectors[0..<(n * textWidth)])
        var gradient = prompts.gradient(dContext: dContext, dDeepText: textGradients.deep, vision: visionGradients)
        var dLabels = Array(textGradients.vectors[(n * textWidth)..<(n * textWidth + labelValues.count)])
        if lamm, weights.wc != 0 {
            var wc: Float = 0
            for i in labelValues.indices {
                let diff = labelValues[i] - reference[i]
                wc += diff * diff
                dLabels[i] += weights.wc * 2 * diff
            }
            terms.wc = wc
            terms.total += weights.wc * wc
        }
        gradient += dLabels
        return (terms, gradient)
    }

    // MARK: Training

    public func train(_ task: MaPLeTask, progress: ((TrainingProgress) -> Void)? = nil) throws -> MaPLeResult {
        guard Self.methods.contains(method) else { throw TrainingError.untrainableMethod(method) }
        try validate(continuing: task.prompts)
        let start = Date()
        var random = SplitMix64(seed: configuration.seed)
        var prompts = task.prompts ?? initialPrompts(random: &random)
        let initialLabels = initialLabelValues(task.classes, random: &random)
        let reference = initialLabels
        let weights = configuration.lossWeights(shots: task.shots, method: method)
        let promptCount = prompts.parameterCount
        var parameters = prompts.flattened + initialLabels

        let (curve, step) = try configuration.trainEpochs(samples: task.labels.count, values: &parameters, random: &random,
                                                          start: start, progress: progress) { values, batch, epoch in
            var pixels: [Float] = []
            for i in batch { pixels += try task.pixels(i, epoch) }
            return try objective(prompts.assigning(values[0..<promptCount]), labelValues: Array(values[promptCount...]), reference: reference,
                                 classes: task.classes, pixels: pixels, labels: batch.map { task.labels[$0] }, weights: weights)
        }
        prompts = prompts.assigning(parameters[0..<promptCount])
        let labelValues = Array(parameters[promptCount...])

        let ranges = textInputs(task.classes, labelRows: labelValues.count / textWidth, references: false).ranges
        let labelVectors = zip(task.classes, ranges).filter { $0.0.trainable }.map { cls, trained -> [Float] in
            cls.label.tokenIDs.enumerated().flatMap { t, id -> [Float] in
                t < trained.count ? Array(labelValues[((trained.lowerBound + t) * textWidth)..<((trained.lowerBound + t + 1) * textWidth)])
                                  : tokenEmbedding(id)
            }
        }
        return MaPLeResult(prompts: prompts, labelVectors: labelVectors,
                           textFeatures: try textFeatures(task.classes, prompts: prompts, labelValues: labelValues),
                           lossCurve: curve, seconds: Date().timeIntervalSince(start), steps: step)
    }
}
