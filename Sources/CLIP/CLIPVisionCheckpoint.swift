// A CLIP checkpoint's image tower alone (transformers' CLIPVisionTransformer +
// visual_projection), loaded by CheckpointLoading.swift from either layout, made at random, or
// exported. Loading is strict among the image tower's tensors; the text tower's are skipped unread.

import Foundation

/// The image tower's frozen parameters (transformers' CLIPVisionTransformer + visual_projection).
public struct CLIPVisionWeights: Sendable {
    /// The patch convolution's kernel [W, 3, p, p], read as [W, 3*p*p]: the linear map of an
    /// unfolded patch (channel, row, column order).
    public var patchEmbedding: [Float]
    public var classEmbedding: [Float]  // [W]
    public var positionEmbedding: [Float]  // [1 + P, W], the class token's first
    public var preLayerNormWeight: [Float]  // [W]
    public var preLayerNormBias: [Float]  // [W]
    public var layers: [CLIPEncoderLayerWeights]
    public var postLayerNormWeight: [Float]  // [W]
    public var postLayerNormBias: [Float]  // [W]
    public var visualProjection: [Float]  // [proj, W], HF's Linear layout (features = x @ P^T)

    public init(
        patchEmbedding: [Float], classEmbedding: [Float], positionEmbedding: [Float],
        preLayerNormWeight: [Float], preLayerNormBias: [Float], layers: [CLIPEncoderLayerWeights],
        postLayerNormWeight: [Float], postLayerNormBias: [Float], visualProjection: [Float]
    ) {
        self.patchEmbedding = patchEmbedding
        self.classEmbedding = classEmbedding
        self.positionEmbedding = positionEmbedding
        self.preLayerNormWeight = preLayerNormWeight
        self.preLayerNormBias = preLayerNormBias
        self.layers = layers
        self.postLayerNormWeight = postLayerNormWeight
        self.postLayerNormBias = postLayerNormBias
        self.visualProjection = visualProjection
    }
}

extension CLIPVisionWeights {
    /// The image tower's tensors, taken strictly in the vision configuration's shapes.
    init(taking tensors: inout TowerTensors, configuration: CLIPConfiguration) throws {
        let v = configuration.vision
        let (w, i, p, proj) = (v.hiddenSize, v.intermediateSize, v.patchSize, configuration.projectionDim)
        let prefix = "vision_model."
        let patchEmbedding = try tensors.take(prefix + "embeddings.patch_embedding.weight", [w, v.channels, p, p])
        let classEmbedding = try tensors.take(prefix + "embeddings.class_embedding", [w])
        let positionEmbedding = try tensors.take(prefix + "embeddings.position_embedding.weight", [v.positionCount, w])
        let preWeight = try tensors.take(prefix + "pre_layrnorm.weight", [w]), preBias = try tensors.take(prefix + "pre_layrnorm.bias", [w])
        let layers = try (0..<v.hiddenLayers).map { l in
            try CLIPEncoderLayerWeights(taking: &tensors, prefix: prefix + "encoder.layers.\(l).", width: w, intermediate: i)
        }
        self.init(
            patchEmbedding: patchEmbedding, classEmbedding: classEmbedding, positionEmbedding: positionEmbedding,
            preLayerNormWeight: preWeight, preLayerNormBias: preBias, layers: layers,
            postLayerNormWeight: try tensors.take(prefix + "post_layernorm.weight", [w]),
            postLayerNormBias: try tensors.take(prefix + "post_layernorm.bias", [w]),
            visualProjection: try tensors.take("visual_projection.weight", [proj, w]))
    }

    /// The image tower's tensors under Hugging Face names (q/k/v split again), for export.
    func huggingFaceTensors(configuration: CLIPConfiguration) -> [(name: String, shape: [Int], values: [Float])] {
        let v = configuration.vision
        let (w, i, p) = (v.hiddenSize, v.intermediateSize, v.patchSize)
        let prefix = "vision_model."
        var out: [(name: String, shape: [Int], values: [Float])] = [
            (prefix + "embeddings.patch_embedding.weight", [w, v.channels, p, p], patchEmbedding),
            (prefix + "embeddings.class_embedding", [w], classEmbedding),
            (prefix + "embeddings.position_embedding.weight", [v.positionCount, w], positionEmbedding),
            (prefix + "pre_layrnorm.weight", [w], preLayerNormWeight),
            (prefix + "pre_layrnorm.bias", [w], preLayerNormBias),
        ]
        for (l, layer) in layers.enumerated() {
            out += layer.huggingFaceTensors(prefix: prefix + "encoder.layers.\(l).", width: w, intermediate: i)
        }
        out += [
            (prefix + "post_layernorm.weight", [w], postLayerNormWeight),
            (prefix + "post_layernorm.bias", [w], postLayerNormBias),
            ("visual_projection.weight", [configuration.projectionDim, w], visualProjection),
        ]
        return out
    }
}

/// A CLIP model's configuration and frozen image-tower weights.
public struct CLIPVisionCheckpoint: Sendable {
    public var configuration: CLIPConfiguration
    public var vision: CLIPVisionWeights

    public init(configuration: CLIPConfiguration, vision: CLIPVisionWeights) {
        self.configuration = configuration
        self.vision = vision
    }

    /// Loads the image tower of a Hugging Face or open_clip checkpoint directory.
    public init(directory: URL) throws {
        let files = try CLIPCheckpointFiles(directory: directory)
        try files.configuration.vision.validate(source: files.configurationFile.path)
        // A file without image-tower tensors fails on the first one the tower needs.
        var tensors = try CheckpointTensors(files, towers: [.vision]).vision ?? TowerTensors(path: files.weights.path)
        let vision = try CLIPVisionWeights(taking: &tensors, configuration: files.configuration)
        try tensors.expectEmpty()
        self.init(configuration: files.configuration, vision: vision)
    }

    /// The image tower's tensors under Hugging Face names (q/k/v split again), for export.
    public func huggingFaceTensors() -> [(name: String, shape: [Int], values: [Float])] {
        vision.huggingFaceTensors(configuration: configuration)
    }

    /// Writes a Hugging Face directory (config.json + model.safetensors) holding the image tower,
    /// loadable by transformers' CLIPVisionModelWithProjection.
    public func writeHuggingFace(to directory: URL) throws {
        try writeHuggingFaceDirectory(directory, configuration: configuration, tensors: huggingFaceTensors())
    }

    /// An image tower with random weights of the given sizes, for tests and benchmarks, drawn
    /// like CLIPCheckpoint.random's text tower: N(0, 0.02) weights and biases, LayerNorm weights
    /// around 1, the projection scaled by 1/sqrt(W).
    public static func random(configuration: CLIPConfiguration, seed: UInt64) -> CLIPVisionCheckpoint {
        var rng = SplitMix64(seed: seed)
        let v = configuration.vision
        let (w, i, p) = (v.hiddenSize, v.intermediateSize, v.patchSize)
        func normal(_ count: Int, std: Float = 0.02, mean: Float = 0) -> [Float] {
            (0..<count).map { _ in mean + std * rng.nextGaussian() }
        }
        let layers = (0..<v.hiddenLayers).map { _ in CLIPEncoderLayerWeights.random(width: w, intermediate: i, normal) }
        let vision = CLIPVisionWeights(
            patchEmbedding: normal(w * v.channels * p * p), classEmbedding: normal(w),
            positionEmbedding: normal(v.positionCount * w, std: 0.01),
            preLayerNormWeight: normal(w, std: 0.1, mean: 1), preLayerNormBias: normal(w),
            layers: layers,
            postLayerNormWeight: normal(w, std: 0.1, mean: 1), postLayerNormBias: normal(w),
            visualProjection: normal(configuration.projectionDim * w, std: 1 / Float(w).squareRoot()))
        return CLIPVisionCheckpoint(configuration: configuration, vision: vision)
    }
}
