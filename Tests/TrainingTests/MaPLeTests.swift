// MaPLe and MaPLe+LAMM on random tiny towers whose text and image widths differ (16 and 24):
// the whole objective's gradient (prompts, coupling maps, label vectors) against central
// finite differences, training, and the options a run refuses.

import CLIP
import Foundation
import Kernels
import Methods
import Testing
@testable import Training

/// A text and an image tower of different widths, weights scaled up so every layer is non-linear.
struct TinyTowers {
    let checkpoint: CLIPCheckpoint
    let text: TextTower
    let vision: VisionTower
    let template: PromptTemplate

    init(layers: Int = 2, seed: UInt64 = 7) {
        let textConfiguration = CLIPTextConfiguration(
            vocabularySize: 40, hiddenSize: 16, intermediateSize: 48, hiddenLayers: layers, attentionHeads: 4,
            maxPositions: 16, hiddenActivation: .quickGELU, layerNormEpsilon: 1e-5)
        let visionConfiguration = CLIPVisionConfiguration(
            hiddenSize: 24, intermediateSize: 64, hiddenLayers: layers, attentionHeads: 4, imageSize: 16, patchSize: 8)
        let configuration = CLIPConfiguration(text: textConfiguration, vision: visionConfiguration, projectionDim: 8,
                                              logitScaleInitValue: 2)
        func scaled(_ x: [Float]) -> [Float] { x.map { $0 * 10 } }
        func scaledLayers(_ layers: [CLIPEncoderLayerWeights]) -> [CLIPEncoderLayerWeights] {
            layers.map { layer in
                var layer = layer
                layer.qkvWeight = scaled(layer.qkvWeight)
                layer.outWeight = scaled(layer.outWeight)
                layer.fc1Weight = scaled(layer.fc1Weight)
                layer.fc2Weight = scaled(layer.fc2Weight)
                return layer
            }
        }
        var checkpoint = CLIPCheckpoint.random(configuration: configuration, seed: seed)
        checkpoint.text.tokenEmbedding = scaled(checkpoint.text.tokenEmbedding)
        checkpoint.text.layers = scaledLayers(checkpoint.text.layers)
        var vision = CLIPVisionCheckpoint.random(configuration: configuration, seed: seed + 1).vision
        vision.patchEmbedding = scaled(vision.patchEmbedding)
        vision.layers = scaledLayers(vision.layers)
        self.checkpoint = checkpoint
        text = TextTower(checkpoint)
        self.vision = VisionTower(configuration: configuration, weights: vision)
        // `a photo of a` and `.` as ids 2-5 and 6; SOT 1, EOT 39.
        template = PromptTemplate(startOfText: 1, endOfText: 39, prefix: [2, 3, 4, 5], suffix: [6], contextLength: 16)
    }

    func trainer(_ configuration: LAMMConfiguration, method: Method) -> Trainer {
        Trainer(checkpoint: checkpoint, text: text, vision: vision, template: template, configuration: configuration, method: method)
    }

    /// Three classes (one of two tokens), the last one's label fixed (an earlier stage's).
    func classes(fixed: [Float]) -> [LabelClass] {
        [LabelClass(label: ClassLabel(name: "a", tokenIDs: [10]), source: .trained),
         LabelClass(label: ClassLabel(name: "b c", tokenIDs: [11, 12]), source: .trained),
         LabelClass(label: ClassLabel(name: "d", tokenIDs: [13]), source: .vectors(fixed))]
    }
}

private func mapleConfiguration(depth: Int) -> LAMMConfiguration {
    var configuration = LAMMConfiguration.defaults(for: .maple)
    configuration.promptDepth = depth
    return configuration
}

@Test(arguments: [(Method.maple, 1), (.maple, 2), (.mapleLAMM, 2)])
func mapleObjectiveMatchesFiniteDifferences(method: Method, depth: Int) throws {
    let towers = TinyTowers()
    let trainer = towers.trainer(mapleConfiguration(depth: depth), method: method)
    var random = SplitMix64(seed: 3)
    var prompts = trainer.initialPrompts(random: &random)
    // Move every parameter off its initialisation so no term is at a special point.
    prompts = prompts.assigning(ArraySlice(prompts.flattened.map { $0 + 0.3 * random.nextGaussian() }))
    let fixed = (0..<16).map { _ in random.nextGaussian() }
    let classes = towers.classes(fixed: fixed)
    let reference = trainer.initialLabelValues(classes, random: &random)
    #expect(reference.count == (method.trainsLabels ? 3 * 16 : 0))
    let labelValues = reference.map { $0 + 0.3 * random.nextGaussian() }
    let pixels = (0..<(4 * 3 * 16 * 16)).map { _ in random.nextGaussian() }
    let labels = [0, 1, 2, 1]
    // L_COS holds psi(y) fixed (detached, as the official FeatureLoss), so its gradient is on
    // purpose not the whole derivative a finite difference sees: it is off here, and checked
    // against PyTorch in MaPLeFixtureTests.
    let weights = LossWeights(wc: 0.25, cos: 0, kd: 0.05, temperature: 2)

    let layout = trainer.layout(classes, prompts: prompts, reference: reference, weights: weights)
    let values = prompts.flattened + labelValues
    let (terms, gradient) = try trainer.objective(values, layout: layout, images: pixels, labels: labels)
    if method.trainsLabels { #expect(terms.kd > 0 && terms.wc > 0) } else { #expect(terms.total == terms.ce) }
    let count = prompts.parameterCount
    func loss(_ values: [Float]) throws -> Double {
        Double(try trainer.objective(values, layout: layout, images: pixels, labels: labels).0.total)
    }
    #expect(gradient.count == values.count)
    // Every 7th coordinate (and every label coordinate) keeps the test quick but covers each tensor.
    let h: Float = 1e-2
    var x = values
    var checked: [(analytic: Float, numerical: Float)] = []
    for i in values.indices where i % 7 == 0 || i >= count {
        x[i] = values[i] + h
        let plus = try loss(x)
        x[i] = values[i] - h
        let minus = try loss(x)
        x[i] = values[i]
        checked.append((gradient[i], Float((plus - minus) / Double(2 * h))))
    }
    let scale = checked.map { abs($0.numerical) }.max()!
    let worst = checked.map { abs($0.analytic - $0.numerical) }.max()!
    print("\(method.rawValue) depth \(depth): \(checked.count) coordinates, worst |difference| \(worst), scale \(scale)")
    #expect(scale > 1e-3)
    #expect(worst <= 3e-3 * scale)
}

@Test(arguments: [Method.maple, .mapleLAMM])
func mapleTrainingLowersTheLossAndKeepsFixedLabels(method: Method) throws {
    let towers = TinyTowers()
    var configuration = mapleConfiguration(depth: 2)
    configuration.epochs = 6
    configuration.warmupEpochs = 0
    configuration.learningRate = 0.05
    let trainer = towers.trainer(configuration, method: method)
    var random = SplitMix64(seed: 5)
    let fixed = (0..<16).map { _ in random.nextGaussian() }
    // Each class's images: a class pattern plus a little noise.
    let patterns = (0..<3).map { _ in (0..<(3 * 16 * 16)).map { _ in random.nextGaussian() } }
    let labels = (0..<12).map { $0 % 3 }
    let task = TrainingTask(classes: towers.classes(fixed: fixed), images: .pixels { sample, epoch in
        var noise = SplitMix64(seed: UInt64(sample * 100 + epoch))
        return patterns[labels[sample]].map { $0 + 0.1 * noise.nextGaussian() }
    }, labels: labels, shots: 4)
    let result = try trainer.train(task)
    #expect(result.lossCurve.count == 6)
    #expect(result.lossCurve.last!.terms.ce < result.lossCurve.first!.terms.ce)
    #expect(result.labelVectors.count == 2)
    #expect(result.textFeatures.count == 2 * 8)
    // The prompts moved; a second run from them continues (same shape).
    var fresh = SplitMix64(seed: configuration.seed)
    let initial = try #require(trainer.initialPrompts(random: &fresh).maplePrompts)
    let trained = try #require(result.prompts.maplePrompts)
    #expect(trained.context != initial.context && trained.deepText != initial.deepText
            && trained.visionProjection != initial.visionProjection)
    var next = task
    next.prompts = result.prompts
    _ = try trainer.train(next)
}

@Test func mapleRefusesADepthBeyondTheTowersAndAnotherShapeToContinue() throws {
    let towers = TinyTowers()
    #expect(throws: TrainingError.outOfRange(option: "--prompt-depth", value: "3", allowed: "1 to 2, the blocks of this model's towers")) {
        try towers.trainer(mapleConfiguration(depth: 3), method: .maple).validate(continuing: nil)
    }
    var random = SplitMix64(seed: 1)
    let parent = towers.trainer(mapleConfiguration(depth: 2), method: .maple).initialPrompts(random: &random)
    #expect(throws: TrainingError.promptShapeDiffers(parentContext: 2, parentDepth: 2, contextLength: 2, depth: 1)) {
        try towers.trainer(mapleConfiguration(depth: 1), method: .maple).validate(continuing: parent)
    }
    #expect(throws: TrainingError.untrainableMethod(.zeroshot)) {
        try towers.trainer(mapleConfiguration(depth: 1), method: .zeroshot).train(
            TrainingTask(classes: [], images: .pixels { _, _ in [] }, labels: [], shots: 1))
    }
}

@Test func maplePromptsRoundTripThroughPromptTensors() throws {
    let towers = TinyTowers(layers: 3)
    var random = SplitMix64(seed: 2)
    let prompts = try #require(towers.trainer(mapleConfiguration(depth: 3), method: .maple).initialPrompts(random: &random).maplePrompts)
    #expect(prompts.tensors.map(\.name) == ["deep_text.1", "deep_text.2", "vision_proj.weight", "vision_proj.bias",
                                            "deep_proj.1.weight", "deep_proj.1.bias", "deep_proj.2.weight", "deep_proj.2.bias"])
    // The context starts from the first two words of the prefix.
    #expect(prompts.context == [2, 3].flatMap { towers.checkpoint.tokenEmbedding(row: $0) })
    let rebuilt = try MaPLePrompts(context: prompts.context, tensors: prompts.tensors, textWidth: 16, visionWidth: 24)
    #expect(rebuilt == prompts)
    #expect(throws: MaPLePromptError.self) {
        try MaPLePrompts(context: prompts.context, tensors: Array(prompts.tensors.dropLast()), textWidth: 16, visionWidth: 24)
    }
    #expect(throws: MaPLePromptError.self) {
        try MaPLePrompts(context: prompts.context, tensors: prompts.tensors, textWidth: 16, visionWidth: 32)
    }
}
