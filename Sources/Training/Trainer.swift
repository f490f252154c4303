// The one trainer of every method (LAMM.md): it moves the new classes' label vectors `<M_i>`
// (LAMM, CoOp+LAMM, MaPLe+LAMM) and the method's prompt parameters (PromptParameters.swift:
// CoOp's context, MaPLe's prompts) by gradient descent through the frozen towers; nothing else
// changes. Methods that prompt only the text tower train on stored CLIP image features with the
// hierarchical loss (HierarchicalLoss.swift); MaPLe and MaPLe+LAMM forward fresh views of the
// images through the prompted image tower each step (MaPLeLoss.swift).

import CLIP
import Foundation
import Kernels
import Methods

/// The images a run trains on.
public enum TrainingImages: Sendable {
    /// L2-normalised CLIP image features [N, D] (methods that leave the image tower alone).
    case features([Float])
    /// Pixels [3, S, S] of training image `sample` as seen in epoch `epoch` (methods that prompt
    /// the image tower: a fresh random resized crop and flip per epoch, as the official
    /// transforms draw them).
    case pixels(@Sendable (_ sample: Int, _ epoch: Int) throws -> [Float])
}

/// What a run trains on.
public struct TrainingTask: Sendable {
    /// The label space; labels index into it.
    public var classes: [LabelClass]
    /// The prompt parameters to continue (a parent snapshot's); nil starts new ones.
    public var prompts: PromptParameters?
    public var images: TrainingImages
    /// The class of each training sample.
    public var labels: [Int]
    /// n, the shots per class (lambda1 = 1/n).
    public var shots: Int

    public init(classes: [LabelClass], prompts: PromptParameters? = nil, images: TrainingImages, labels: [Int], shots: Int) {
        self.classes = classes
        self.prompts = prompts
        self.images = images
        self.labels = labels
        self.shots = shots
    }
}

public struct TrainingResult: Sendable {
    /// Every trained class's label vectors after training, tokens x W (all class-name tokens,
    /// the untrained ones CLIP's word embeddings), in label order.
    public var labelVectors: [[Float]]
    /// The prompt parameters after training.
    public var prompts: PromptParameters
    /// L2-normalised text features of the trained classes' final prompts [C, D].
    public var textFeatures: [Float]
    public var lossCurve: [EpochLoss]
    public var seconds: Double
    public var steps: Int
    /// The values the optimiser moved: the prompt parameters and the trained label rows.
    public var parameterCount = 0

    /// The trained context [n, W], for methods that have one.
    public var context: [Float]? { prompts.context }
}

public final class Trainer: Sendable {
    /// The methods a trainer trains: zero-shot CLIP has nothing to train.
    public static let methods: [Method] = [.lamm, .coop, .coopLAMM, .maple, .mapleLAMM]

    public let text: TextTower
    /// The image tower, for the methods that prompt it.
    public let vision: VisionTower?
    public let template: PromptTemplate
    public let tokenEmbedding: @Sendable (Int) -> [Float]
    public let logitScale: Float
    public let configuration: LAMMConfiguration
    public let method: Method

    public init(checkpoint: CLIPCheckpoint, text: TextTower, vision: VisionTower? = nil, template: PromptTemplate,
                configuration: LAMMConfiguration, method: Method = .lamm) {
        precondition(!method.promptsBothTowers || vision != nil, "Trainer: \(method.rawValue) needs the image tower")
        self.text = text
        self.vision = vision
        self.template = template
        self.tokenEmbedding = { checkpoint.tokenEmbedding(row: $0) }
        self.logitScale = checkpoint.logitScale
        self.configuration = configuration
        self.method = method
    }

    var width: Int { text.configuration.text.hiddenSize }
    var dimension: Int { text.configuration.projectionDim }

    /// The deepest prompts both towers can take: one per block.
    public var maximumDepth: Int {
        min(text.configuration.text.hiddenLayers, vision?.configuration.vision.hiddenLayers ?? 0)
    }

    /// Checks the options against the towers and the prompt parameters a run continues.
    public func validate(continuing prompts: PromptParameters?) throws {
        guard Self.methods.contains(method) else { throw TrainingError.untrainableMethod(method) }
        try configuration.validate()
        guard method.promptsBothTowers else { return }
        guard (1...maximumDepth).contains(configuration.promptDepth) else {
            throw TrainingError.outOfRange(option: "--prompt-depth", value: "\(configuration.promptDepth)",
                                           allowed: "1 to \(maximumDepth), the blocks of this model's towers")
        }
        if let prompts = prompts?.maplePrompts,
           prompts.contextLength != configuration.contextLength || prompts.depth != configuration.promptDepth {
            throw TrainingError.promptShapeDiffers(parentContext: prompts.contextLength, parentDepth: prompts.depth,
                                                   contextLength: configuration.contextLength, depth: configuration.promptDepth)
        }
    }

    // MARK: Parameters

    /// New prompt parameters as the configuration asks (PromptParameters.initial).
    public func initialPrompts(random: inout SplitMix64) -> PromptParameters {
        PromptParameters.initial(method: method, configuration: configuration, template: template, textWidth: width,
                                 visionWidth: vision?.configuration.vision.hiddenSize, tokenEmbedding: tokenEmbedding,
                                 random: &random)
    }

    /// Label rows a class trains: every class-name token or the first (`labelTokens`), none for
    /// a class of an earlier stage or a method that trains no label vectors.
    func trainedCount(_ cls: LabelClass) -> Int {
        guard cls.isTrained, method.trainsLabels else { return 0 }
        return configuration.labelTokens == .all ? cls.label.tokenIDs.count : 1
    }

    /// The trained classes' initial label rows, in label order: their word embeddings, or
    /// N(0, 0.02^2) (CoOp's initialisation of learnable vectors).
    public func initialLabelValues(_ classes: [LabelClass], random: inout SplitMix64) -> [Float] {
        var values: [Float] = []
        for cls in classes {
            for id in cls.label.tokenIDs.prefix(trainedCount(cls)) {
                switch configuration.labelInitialisation {
                case .classname: values += tokenEmbedding(id)
                case .random: values += (0..<width).map { _ in 0.02 * random.nextGaussian() }
                }
            }
        }
        return values
    }

    // MARK: The label space's prompts

    /// Everything the steps of a run share, laid out once: the text tower's prompts and the
    /// fixed rows of its vector matrix, the label space's fixed features, the loss weights and
    /// L_WC's reference. A step's parameters are one vector theta = [prompts.flattened, label values].
    public struct Layout: Sendable {
        /// The prompt parameters' shape (their values come with each step).
        public var prompts: PromptParameters
        /// One prompt per class whose feature the tower computes (every class but `.feature`
        /// ones, in label order), then, when the loss needs them, each of those classes' prompt
        /// with CLIP's own class tokens (MaPLe+LAMM's moving references).
        public var textPrompts: [PromptRows]
        /// The label-space index of each class prompt.
        public var prompted: [Int]
        /// Fixed label rows, after the context and the trained rows in the vector matrix.
        public var fixed: [Float]
        /// Each trained class's rows in the label values, in label order.
        public var ranges: [Range<Int>]
        /// The fixed features of `.feature` classes with their label-space index.
        public var fixedFeatures: [(index: Int, feature: [Float])]
        /// psi(y) of every class [K, D], for the hierarchical loss (empty when not needed).
        public var clipFeatures: [Float]
        public var classCount: Int
        /// L_WC's reference: the label values a run starts from.
        public var reference: [Float]
        public var weights: LossWeights
    }

    public func layout(_ classes: [LabelClass], prompts: PromptParameters, reference: [Float] = [],
                       weights: LossWeights) -> Layout {
        let w = width, n = prompts.contextRows
        let labelRows = classes.map(trainedCount).reduce(0, +)
        var layout = Layout(prompts: prompts, textPrompts: [], prompted: [], fixed: [], ranges: [], fixedFeatures: [],
                            clipFeatures: [], classCount: classes.count, reference: reference, weights: weights)
        var trainedRow = 0
        for (k, cls) in classes.enumerated() {
            let ids = cls.label.tokenIDs
            let rows: [PromptRow]
            switch cls.source {
            case let .feature(feature):
                precondition(!method.promptsBothTowers, "Trainer: under \(method.rawValue) every class's feature moves with the prompts")
                layout.fixedFeatures.append((k, feature))
                continue
            case let .vectors(vectors):
                let first = n + labelRows + layout.fixed.count / w
                rows = (0..<(vectors.count / w)).map { .vector(index: first + $0) }
                layout.fixed += vectors
            case .words:
                rows = ids.map { .token($0) }
            case .trained:
                let trained = trainedCount(cls)
                rows = ids.enumerated().map { t, id in t < trained ? .vector(index: n + trainedRow + t) : .token(id) }
                layout.ranges.append(trainedRow..<(trainedRow + trained))
                trainedRow += trained
            }
            layout.textPrompts.append(prompts.prompt(template, label: rows))
            layout.prompted.append(k)
        }
        if method.promptsBothTowers {
            if method.trainsLabels {
                for k in layout.prompted { layout.textPrompts.append(prompts.prompt(template, label: classes[k].label.tokenIDs.map { .token($0) })) }
            }
        } else {
            precondition((weights.cos == 0 && weights.kd == 0) || classes.allSatisfy { $0.clipTextFeature != nil },
                         "Trainer: the hierarchical loss needs every class's CLIP text feature")
            layout.clipFeatures = classes.flatMap { $0.clipTextFeature ?? [] }
        }
        return layout
    }

    /// The vector matrix the prompts read: the context, the trained label rows, the fixed rows.
    func vectors(_ prompts: PromptParameters, labelValues: ArraySlice<Float>, layout: Layout) -> [Float] {
        (prompts.context ?? []) + labelValues + layout.fixed
    }

    /// L2-normalised text features [K, D] of the label space under `prompts`, trained classes
    /// reading `labelValues` (evaluation: no activations kept).
    public func textFeatures(_ classes: [LabelClass], prompts: PromptParameters, labelValues: [Float] = []) throws -> [Float] {
        let layout = layout(classes, prompts: prompts, weights: LossWeights(wc: 0, cos: 0, kd: 0))
        let d = dimension
        let classPrompts = Array(layout.textPrompts.prefix(layout.prompted.count))
        let features = try text.features(classPrompts, vectors: vectors(prompts, labelValues: labelValues[...], layout: layout),
                                         deep: prompts.textDeepPrompts)
        return labelSpaceFeatures(l2Normalize(features, rows: layout.prompted.count, columns: d).out[...], layout: layout)
    }

    /// Features [K, D] in label order: the class prompts' (`prompted`, in their order) and the fixed ones.
    func labelSpaceFeatures(_ prompted: ArraySlice<Float>, layout: Layout) -> [Float] {
        let d = dimension
        if layout.fixedFeatures.isEmpty && layout.prompted.count == layout.classCount { return Array(prompted) }
        var features = [Float](repeating: 0, count: layout.classCount * d)
        for (i, k) in layout.prompted.enumerated() {
            features.replaceSubrange((k * d)..<((k + 1) * d), with: prompted[(prompted.startIndex + i * d)..<(prompted.startIndex + (i + 1) * d)])
        }
        for (k, feature) in layout.fixedFeatures { features.replaceSubrange((k * d)..<((k + 1) * d), with: feature) }
        return features
    }

    /// L2-normalised image features [count, D] of preprocessed images through the prompted image tower.
    public func imageFeatures(pixels: [Float], count: Int, prompts: PromptParameters) throws -> [Float] {
        try vision!.encode(pixels: pixels, count: count, prompts: prompts.visionPrompts, normalized: true)
    }

    // MARK: One step

    /// The loss of one batch and its gradient with respect to theta = [prompts.flattened, label
    /// values] (LAMM.md, Losses): forward the label space's prompts (and, for MaPLe, the batch's
    /// pixels [B, 3, S, S] through the prompted image tower; otherwise `images` are the batch's
    /// L2-normalised features [B, D]), the loss, back through the towers, plus lambda1 * L_WC on
    /// the label rows (the prompt parameters have no word to stay near).
    public func objective(_ theta: [Float], layout: Layout, images: [Float], labels: [Int]) throws -> (LossTerms, [Float]) {
        let promptCount = layout.prompts.parameterCount
        let prompts = layout.prompts.assigning(theta[0..<promptCount])
        let labelValues = theta[promptCount...]
        let d = dimension
        let state = try text.forward(layout.textPrompts, vectors: vectors(prompts, labelValues: labelValues, layout: layout),
                                     deep: prompts.textDeepPrompts)
        let features = state.normalizedFeatures
        let k = layout.prompted.count
        var terms: LossTerms
        let textGradients: TextTowerGradients
        var visionGradients: VisionPromptGradients?
        if method.promptsBothTowers {
            let visionState = try vision!.forward(pixels: images, count: labels.count, prompts: prompts.visionPrompts)
            let lamm = method.trainsLabels
            let batch = MaPLeLossBatch(imageFeatures: visionState.normalizedFeatures, labels: labels,
                                       textFeatures: Array(features[0..<(k * d)]),
                                       referenceFeatures: lamm ? Array(features[(k * d)...]) : nil,
                                       logitScale: logitScale, dimension: d)
            let (mapleTerms, dLoss) = mapleLoss(batch, weights: lamm ? layout.weights : nil)
            terms = mapleTerms
            textGradients = try text.gradients(state, dNormalizedFeatures: dLoss.text + dLoss.reference)
            visionGradients = try vision!.backward(visionState, dNormalizedFeatures: dLoss.image)
        } else {
            let batch = FeatureLossBatch(imageFeatures: images, labels: labels,
                                         textFeatures: labelSpaceFeatures(features[...], layout: layout),
                                         clipTextFeatures: layout.clipFeatures, logitScale: logitScale, dimension: d)
            let (featureTerms, dText) = featureLoss(batch, weights: layout.weights)
            terms = featureTerms
            let dPrompted = layout.prompted.flatMap { dText[($0 * d)..<(($0 + 1) * d)] }
            textGradients = try text.gradients(state, dNormalizedFeatures: dPrompted)
        }
        let n = prompts.contextRows * width
        var dLabels = Array(textGradients.vectors[n..<(n + labelValues.count)])
        if layout.weights.wc != 0, !labelValues.isEmpty {
            let (wc, wcGradient) = weightConsolidation(Array(labelValues), reference: layout.reference)
            terms.wc = wc
            terms.total += layout.weights.wc * wc
            for i in wcGradient.indices { dLabels[i] += layout.weights.wc * wcGradient[i] }
        }
        return (terms, prompts.gradient(text: textGradients, vision: visionGradients) + dLabels)
    }

    // MARK: Training

    public func train(_ task: TrainingTask, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingResult {
        try validate(continuing: task.prompts)
        let start = Date()
        var random = SplitMix64(seed: configuration.seed)
        let prompts = task.prompts ?? initialPrompts(random: &random)
        let initialLabels = initialLabelValues(task.classes, random: &random)
        let layout = layout(task.classes, prompts: prompts, reference: initialLabels,
                            weights: configuration.lossWeights(shots: task.shots, method: method))
        let d = dimension
        var theta = prompts.flattened + initialLabels
        let (curve, step) = try configuration.trainEpochs(samples: task.labels.count, values: &theta, random: &random,
                                                          start: start, progress: progress) { values, batch, epoch in
            var images: [Float] = []
            switch task.images {
            case let .features(features):
                images.reserveCapacity(batch.count * d)
                for i in batch { images += features[(i * d)..<((i + 1) * d)] }
            case let .pixels(view):
                for i in batch { images += try view(i, epoch) }
            }
            return try objective(values, layout: layout, images: images, labels: batch.map { task.labels[$0] })
        }

        let final = prompts.assigning(theta[0..<prompts.parameterCount])
        let labelValues = Array(theta[prompts.parameterCount...])
        let trained = task.classes.indices.filter { task.classes[$0].isTrained }
        let labelVectors = zip(trained, layout.ranges).map { k, rows -> [Float] in
            task.classes[k].label.tokenIDs.enumerated().flatMap { t, id -> [Float] in
                t < rows.count ? Array(labelValues[((rows.lowerBound + t) * width)..<((rows.lowerBound + t + 1) * width)])
                               : tokenEmbedding(id)
            }
        }
        let features = try textFeatures(task.classes, prompts: final, labelValues: labelValues)
        var result = TrainingResult(labelVectors: labelVectors, prompts: final,
                                    textFeatures: trained.flatMap { features[($0 * d)..<(($0 + 1) * d)] }, lossCurve: curve,
                                    seconds: Date().timeIntervalSince(start), steps: step)
        result.parameterCount = theta.count
        return result
    }
}
