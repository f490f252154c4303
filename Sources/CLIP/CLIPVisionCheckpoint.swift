// Loading a CLIP checkpoint directory into the image tower's weights, from the same two
// layouts as the text tower (CLIPCheckpointFiles): Hugging Face names (transformers'
// CLIPVisionTransformer + visual_projection) or OpenAI / open_clip names (`visual.*`, renamed by
// WeightRenaming). Loading is strict among the vision tensors (mlx-swift-examples' Load.swift):
// every expected one must be present with its shape and no other may be; the text tower's
// tensors are left to CLIPCheckpoint. Weights are upcast to F32 once.

import Foundation
import Formats

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

public enum CLIPVisionCheckpointError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case wrongShape(path: String, tensor: String, shape: [Int], expected: [Int])

    public var description: String {
        switch self {
        case let .missingTensor(path, tensor):
            "\(path) has no tensor '\(tensor)', which the CLIP image tower needs; the checkpoint is incomplete, text-only or of another model"
        case let .unexpectedTensor(path, tensor):
            "\(path) holds an unexpected image-tower tensor '\(tensor)'; only CLIP's ViT image tower is supported (not ResNet or timm trunks)"
        case let .wrongShape(path, tensor, shape, expected):
            "\(path): tensor '\(tensor)' has shape \(shape) but the vision configuration implies \(expected); the weights and configuration do not match"
        }
    }

    public var errorDescription: String? { description }
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
        let file = try SafetensorsFile(url: files.weights)
        let tensors = try Self.readVisionTensors(file, isOpenCLIP: files.layout == .openCLIP)
        try self.init(configuration: files.configuration, tensors: tensors, path: files.weights.path)
    }

    /// Whether a Hugging Face name belongs to the image tower.
    private static func isVisionName(_ name: String) -> Bool {
        name.hasPrefix("vision_model.") || name.hasPrefix("visual_projection.")
    }

    /// Reads, renames and converts every image-tower tensor to Hugging Face names; the rest is skipped.
    private static func readVisionTensors(_ file: SafetensorsFile, isOpenCLIP: Bool) throws -> [String: NamedTensor] {
        let path = file.url.path
        var tensors: [String: NamedTensor] = [:]
        for name in file.tensorNames {
            if isOpenCLIP {
                guard name.hasPrefix("visual.") else { continue }
                let renamed = WeightRenaming.huggingFaceName(openCLIP: name)
                guard isVisionName(renamed) else { throw CLIPVisionCheckpointError.unexpectedTensor(path: path, tensor: name) }
                let info = try file.info(name)
                for (hfName, shape, values) in WeightRenaming.convertOpenCLIPTensor(name: renamed, shape: info.shape, values: try file.floats(name)) {
                    tensors[hfName] = NamedTensor(shape: shape, values: values, source: name)
                }
            } else {
                // position_ids is a buffer older transformers versions saved, not a weight.
                guard isVisionName(name), name != "vision_model.embeddings.position_ids" else { continue }
                tensors[name] = NamedTensor(shape: try file.info(name).shape, values: try file.floats(name), source: name)
            }
        }
        return tensors
    }

    /// Builds the weights from Hugging Face-named tensors, strictly.
    init(configuration: CLIPConfiguration, tensors: [String: NamedTensor], path: String) throws {
        let v = configuration.vision
        let (w, i, p, proj) = (v.hiddenSize, v.intermediateSize, v.patchSize, configuration.projectionDim)
        var remaining = tensors
        func take(_ name: String, _ expected: [Int]) throws -> [Float] {
            guard let tensor = remaining.removeValue(forKey: name) else {
                throw CLIPVisionCheckpointError.missingTensor(path: path, tensor: name)
            }
            guard tensor.shape == expected else {
                let described = tensor.source == name ? name : "\(tensor.source) (renamed to \(name))"
                throw CLIPVisionCheckpointError.wrongShape(path: path, tensor: described, shape: tensor.shape, expected: expected)
            }
            return tensor.values
        }
        let prefix = "vision_model."
        let patchEmbedding = try take(prefix + "embeddings.patch_embedding.weight", [w, v.channels, p, p])
        let classEmbedding = try take(prefix + "embeddings.class_embedding", [w])
        let positionEmbedding = try take(prefix + "embeddings.position_embedding.weight", [v.positionCount, w])
        let preWeight = try take(prefix + "pre_layrnorm.weight", [w]), preBias = try take(prefix + "pre_layrnorm.bias", [w])
        let layers = try (0..<v.hiddenLayers).map { l in
            let b = prefix + "encoder.layers.\(l)."
            // q, k and v stacked into one [3W, W] weight, as the text tower does.
            let qkvWeight = try ["q", "k", "v"].flatMap { try take(b + "self_attn.\($0)_proj.weight", [w, w]) }
            let qkvBias = try ["q", "k", "v"].flatMap { try take(b + "self_attn.\($0)_proj.bias", [w]) }
            return CLIPEncoderLayerWeights(
                layerNorm1Weight: try take(b + "layer_norm1.weight", [w]), layerNorm1Bias: try take(b + "layer_norm1.bias", [w]),
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                outWeight: try take(b + "self_attn.out_proj.weight", [w, w]), outBias: try take(b + "self_attn.out_proj.bias", [w]),
                layerNorm2Weight: try take(b + "layer_norm2.weight", [w]), layerNorm2Bias: try take(b + "layer_norm2.bias", [w]),
                fc1Weight: try take(b + "mlp.fc1.weight", [i, w]), fc1Bias: try take(b + "mlp.fc1.bias", [i]),
                fc2Weight: try take(b + "mlp.fc2.weight", [w, i]), fc2Bias: try take(b + "mlp.fc2.bias", [w]))
        }
        let vision = CLIPVisionWeights(
            patchEmbedding: patchEmbedding, classEmbedding: classEmbedding, positionEmbedding: positionEmbedding,
            preLayerNormWeight: preWeight, preLayerNormBias: preBias, layers: layers,
            postLayerNormWeight: try take(prefix + "post_layernorm.weight", [w]),
            postLayerNormBias: try take(prefix + "post_layernorm.bias", [w]),
            visualProjection: try take("visual_projection.weight", [proj, w]))
        if let extra = remaining.keys.sorted().first {
            throw CLIPVisionCheckpointError.unexpectedTensor(path: path, tensor: remaining[extra]!.source)
        }
        self.init(configuration: configuration, vision: vision)
    }

    /// The image tower's tensors under Hugging Face names (q/k/v split again), for export.
    public func huggingFaceTensors() -> [(name: String, shape: [Int], values: [Float])] {
        let v = configuration.vision
        let (w, i, p) = (v.hiddenSize, v.intermediateSize, v.patchSize)
        let prefix = "vision_model."
        var out: [(name: String, shape: [Int], values: [Float])] = [
            (prefix + "embeddings.patch_embedding.weight", [w, v.channels, p, p], vision.patchEmbedding),
            (prefix + "embeddings.class_embedding", [w], vision.classEmbedding),
            (prefix + "embeddings.position_embedding.weight", [v.positionCount, w], vision.positionEmbedding),
            (prefix + "pre_layrnorm.weight", [w], vision.preLayerNormWeight),
            (prefix + "pre_layrnorm.bias", [w], vision.preLayerNormBias),
        ]
        for (l, layer) in vision.layers.enumerated() {
            out += layer.huggingFaceTensors(prefix: prefix + "encoder.layers.\(l).", width: w, intermediate: i)
        }
        out += [
            (prefix + "post_layernorm.weight", [w], vision.postLayerNormWeight),
            (prefix + "post_layernorm.bias", [w], vision.postLayerNormBias),
            ("visual_projection.weight", [configuration.projectionDim, w], vision.visualProjection),
        ]
        return out
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

extension CLIPEncoderLayerWeights {
    /// The block's tensors under Hugging Face names below `prefix` (q/k/v split again), for export.
    func huggingFaceTensors(prefix b: String, width w: Int, intermediate i: Int) -> [(name: String, shape: [Int], values: [Float])] {
        var out: [(name: String, shape: [Int], values: [Float])] = []
        for (j, letter) in ["q", "k", "v"].enumerated() {
            out.append((b + "self_attn.\(letter)_proj.weight", [w, w], Array(qkvWeight[(j * w * w)..<((j + 1) * w * w)])))
            out.append((b + "self_attn.\(letter)_proj.bias", [w], Array(qkvBias[(j * w)..<((j + 1) * w)])))
        }
        return out + [
            (b + "self_attn.out_proj.weight", [w, w], outWeight), (b + "self_attn.out_proj.bias", [w], outBias),
            (b + "layer_norm1.weight", [w], layerNorm1Weight), (b + "layer_norm1.bias", [w], layerNorm1Bias),
            (b + "layer_norm2.weight", [w], layerNorm2Weight), (b + "layer_norm2.bias", [w], layerNorm2Bias),
            (b + "mlp.fc1.weight", [i, w], fc1Weight), (b + "mlp.fc1.bias", [i], fc1Bias),
            (b + "mlp.fc2.weight", [w, i], fc2Weight), (b + "mlp.fc2.bias", [w], fc2Bias),
        ]
    }

    /// A block drawn from `normal(count, std, mean)`: N(0, 0.02) weights and biases, LayerNorm
    /// weights N(1, 0.1), in CLIPCheckpoint.random's order.
    static func random(width w: Int, intermediate i: Int, _ normal: (_ count: Int, _ std: Float, _ mean: Float) -> [Float]) -> Self {
        CLIPEncoderLayerWeights(
            layerNorm1Weight: normal(w, 0.1, 1), layerNorm1Bias: normal(w, 0.02, 0),
            qkvWeight: normal(3 * w * w, 0.02, 0), qkvBias: normal(3 * w, 0.02, 0),
            outWeight: normal(w * w, 0.02, 0), outBias: normal(w, 0.02, 0),
            layerNorm2Weight: normal(w, 0.1, 1), layerNorm2Bias: normal(w, 0.02, 0),
            fc1Weight: normal(i * w, 0.02, 0), fc1Bias: normal(i, 0.02, 0),
            fc2Weight: normal(w * i, 0.02, 0), fc2Bias: normal(w, 0.02, 0))
    }
}

/// Writes a Hugging Face checkpoint directory: `configuration` as config.json, `tensors` (F32)
/// as model.safetensors.
func writeHuggingFaceDirectory(
    _ directory: URL, configuration: CLIPConfiguration, tensors: [(name: String, shape: [Int], values: [Float])]
) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(configuration).write(to: directory.appendingPathComponent("config.json"))
    var writer = SafetensorsWriter(metadata: ["format": "pt"])
    for tensor in tensors {
        try writer.add(tensor.name, floats: tensor.values, shape: tensor.shape)
    }
    try writer.write(to: directory.appendingPathComponent("model.safetensors"))
}
