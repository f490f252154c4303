// A CLIP checkpoint's text tower (and, when asked for, its image tower), loaded from a
// checkpoint directory by CheckpointLoading.swift, made at random, or exported.

import Foundation
import Formats

/// The text tower's frozen parameters (transformers' CLIPTextTransformer + text_projection).
public struct CLIPTextWeights: Sendable {
    public var tokenEmbedding: [Float]  // [V, W]
    public var positionEmbedding: [Float]  // [positions, W]
    public var layers: [CLIPEncoderLayerWeights]
    public var finalLayerNormWeight: [Float]  // [W]
    public var finalLayerNormBias: [Float]  // [W]
    public var textProjection: [Float]  // [proj, W], HF's Linear layout (features = x @ P^T)
}

extension CLIPTextWeights {
    /// The text tower's tensors (all but logit_scale), taken strictly in the configuration's shapes.
    init(taking tensors: inout TowerTensors, configuration: CLIPConfiguration) throws {
        let t = configuration.text
        let (v, w, i, positions, proj) = (t.vocabularySize, t.hiddenSize, t.intermediateSize, t.maxPositions, configuration.projectionDim)
        let prefix = "text_model."
        let tokenEmbedding = try tensors.take(prefix + "embeddings.token_embedding.weight", [v, w])
        let positionEmbedding = try tensors.take(prefix + "embeddings.position_embedding.weight", [positions, w])
        let layers = try (0..<t.hiddenLayers).map { l in
            try CLIPEncoderLayerWeights(taking: &tensors, prefix: prefix + "encoder.layers.\(l).", width: w, intermediate: i)
        }
        self.init(
            tokenEmbedding: tokenEmbedding,
            positionEmbedding: positionEmbedding,
            layers: layers,
            finalLayerNormWeight: try tensors.take(prefix + "final_layer_norm.weight", [w]),
            finalLayerNormBias: try tensors.take(prefix + "final_layer_norm.bias", [w]),
            textProjection: try tensors.take("text_projection.weight", [proj, w]))
    }
}

/// A CLIP model's configuration and frozen text-tower weights, and optionally its image tower's.
public struct CLIPCheckpoint: Sendable {
    public var configuration: CLIPConfiguration
    public var text: CLIPTextWeights
    /// The `logit_scale` parameter as stored: the log of CLIP's temperature tau.
    public var logLogitScale: Float
    /// The image tower, when loaded with `includingVision` from a file that holds one.
    public var vision: CLIPVisionWeights?

    /// tau = exp(logit_scale), 100 for the released models.
    public var logitScale: Float { exp(logLogitScale) }

    public init(configuration: CLIPConfiguration, text: CLIPTextWeights, logLogitScale: Float, vision: CLIPVisionWeights? = nil) {
        self.configuration = configuration
        self.text = text
        self.logLogitScale = logLogitScale
        self.vision = vision
    }

    /// The image tower as a checkpoint of its own, when this one holds it.
    public var visionCheckpoint: CLIPVisionCheckpoint? {
        vision.map { CLIPVisionCheckpoint(configuration: configuration, vision: $0) }
    }

    /// The token-embedding row of `row` (a token id), width W.
    public func tokenEmbedding(row: Int) -> [Float] {
        let w = configuration.text.hiddenSize
        precondition(row >= 0 && row < configuration.text.vocabularySize, "token id \(row) outside the vocabulary")
        return Array(text.tokenEmbedding[(row * w)..<((row + 1) * w)])
    }

    /// Loads the text tower of a Hugging Face or open_clip checkpoint directory. With
    /// `includingVision`, the same pass over the weights also loads the image tower when the file
    /// holds one (strictly, as CLIPVisionCheckpoint(directory:) does); without it the image
    /// tower's tensors are skipped unread.
    public init(directory: URL, includingVision: Bool = false) throws {
        let files = try CLIPCheckpointFiles(directory: directory)
        var tensors = try CheckpointTensors(files, towers: includingVision ? [.text, .vision] : [.text])
        var text = tensors.text!
        let configuration = files.configuration
        let textWeights = try CLIPTextWeights(taking: &text, configuration: configuration)
        let logLogitScale = try text.take("logit_scale", [])[0]
        try text.expectEmpty()
        var vision: CLIPVisionWeights?
        if tensors.vision != nil {
            try configuration.vision.validate(source: files.configurationFile.path)
            vision = try CLIPVisionWeights(taking: &tensors.vision!, configuration: configuration)
            try tensors.vision!.expectEmpty()
        }
        self.init(configuration: configuration, text: textWeights, logLogitScale: logLogitScale, vision: vision)
    }

    /// The text tower's tensors under Hugging Face names (q/k/v split again), then the image
    /// tower's when held, for export.
    public func huggingFaceTensors() -> [(name: String, shape: [Int], values: [Float])] {
        let t = configuration.text
        let (w, i) = (t.hiddenSize, t.intermediateSize)
        var out: [(String, [Int], [Float])] = [
            ("text_model.embeddings.token_embedding.weight", [t.vocabularySize, w], text.tokenEmbedding),
            ("text_model.embeddings.position_embedding.weight", [t.maxPositions, w], text.positionEmbedding),
        ]
        for (l, layer) in text.layers.enumerated() {
            out += layer.huggingFaceTensors(prefix: "text_model.encoder.layers.\(l).", width: w, intermediate: i)
        }
        out += [
            ("text_model.final_layer_norm.weight", [w], text.finalLayerNormWeight),
            ("text_model.final_layer_norm.bias", [w], text.finalLayerNormBias),
            ("text_projection.weight", [configuration.projectionDim, w], text.textProjection),
            ("logit_scale", [], [logLogitScale]),
        ]
        return out + (vision?.huggingFaceTensors(configuration: configuration) ?? [])
    }

    /// Writes a Hugging Face directory (config.json + model.safetensors) holding the text tower
    /// (and the image tower when held).
    public func writeHuggingFace(to directory: URL) throws {
        try writeHuggingFaceDirectory(directory, configuration: configuration, tensors: huggingFaceTensors())
    }

    /// A checkpoint with random weights of the given sizes, for tests and benchmarks:
    /// N(0, 0.02) linear and embedding weights, N(0, 0.02) biases, LayerNorm weights around 1.
    public static func random(configuration: CLIPConfiguration, seed: UInt64) -> CLIPCheckpoint {
        var rng = SplitMix64(seed: seed)
        let t = configuration.text
        let (v, w, i) = (t.vocabularySize, t.hiddenSize, t.intermediateSize)
        func normal(_ count: Int, std: Float = 0.02, mean: Float = 0) -> [Float] {
            (0..<count).map { _ in mean + std * rng.nextGaussian() }
        }
        let layers = (0..<t.hiddenLayers).map { _ in CLIPEncoderLayerWeights.random(width: w, intermediate: i, normal) }
        let text = CLIPTextWeights(
            tokenEmbedding: normal(v * w), positionEmbedding: normal(t.maxPositions * w, std: 0.01),
            layers: layers,
            finalLayerNormWeight: normal(w, std: 0.1, mean: 1), finalLayerNormBias: normal(w),
            textProjection: normal(configuration.projectionDim * w, std: 1 / Float(w).squareRoot()))
        return CLIPCheckpoint(configuration: configuration, text: text, logLogitScale: log(100))
    }
}

/// A small seeded generator (SplitMix64, Steele et al. 2014) so random weights are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box-Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = Double(next() >> 11 + 1) / Double(1 << 53)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
