// Loading a CLIP checkpoint directory into the text tower's weights.
// Two layouts are accepted:
//   Hugging Face: config.json + model.safetensors (transformers' CLIPModel names)
//   open_clip:    open_clip_config.json + open_clip_model.safetensors (OpenAI names, renamed
//                 by WeightRenaming)
// Loading is strict (mlx-swift-examples' Load.swift): every expected tensor must be present with
// its shape, every other tensor must be on the explicit ignore list. Weights are upcast to F32 once.

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

public enum CLIPCheckpointError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case notADirectory(path: String)
    case missingConfiguration(directory: String)
    case missingWeights(path: String)
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case wrongShape(path: String, tensor: String, shape: [Int], expected: [Int])

    public var description: String {
        switch self {
        case let .notADirectory(path):
            "checkpoint directory \(path) does not exist or is not a directory; pass the directory holding config.json and model.safetensors"
        case let .missingConfiguration(directory):
            "\(directory) holds neither config.json (Hugging Face) nor open_clip_config.json (open_clip); pass a CLIP checkpoint directory"
        case let .missingWeights(path):
            "\(path) is missing; a CLIP checkpoint directory needs its safetensors weights next to the configuration"
        case let .missingTensor(path, tensor):
            "\(path) has no tensor '\(tensor)', which the CLIP text tower needs; the checkpoint is incomplete or of another model"
        case let .unexpectedTensor(path, tensor):
            "\(path) holds an unexpected tensor '\(tensor)'; the checkpoint is not a CLIP model this tool understands"
        case let .wrongShape(path, tensor, shape, expected):
            "\(path): tensor '\(tensor)' has shape \(shape) but the configuration implies \(expected); the weights and configuration do not match"
        }
    }

    public var errorDescription: String? { description }
}

/// The files of a checkpoint directory: Hugging Face (`config.json` + `model.safetensors`)
/// or open_clip (`open_clip_config.json` + `open_clip_model.safetensors`), and the decoded
/// configuration.
public struct CLIPCheckpointFiles: Sendable {
    public enum Layout: String, Sendable { case huggingFace, openCLIP }

    public var layout: Layout
    public var configurationFile: URL
    public var weights: URL
    public var configuration: CLIPConfiguration

    public init(directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIPCheckpointError.notADirectory(path: directory.path)
        }
        let hfConfig = directory.appendingPathComponent("config.json")
        let openCLIPConfig = directory.appendingPathComponent("open_clip_config.json")
        if FileManager.default.fileExists(atPath: hfConfig.path) {
            layout = .huggingFace
            configurationFile = hfConfig
            configuration = try CLIPConfiguration.decodeHuggingFace(try Data(contentsOf: hfConfig), source: hfConfig.path)
            weights = directory.appendingPathComponent("model.safetensors")
        } else if FileManager.default.fileExists(atPath: openCLIPConfig.path) {
            layout = .openCLIP
            configurationFile = openCLIPConfig
            configuration = try CLIPConfiguration.decodeOpenCLIP(try Data(contentsOf: openCLIPConfig), source: openCLIPConfig.path)
            weights = directory.appendingPathComponent("open_clip_model.safetensors")
        } else {
            throw CLIPCheckpointError.missingConfiguration(directory: directory.path)
        }
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw CLIPCheckpointError.missingWeights(path: weights.path)
        }
    }
}

/// A tensor under its Hugging Face name, with the name it had in the file.
struct NamedTensor {
    var shape: [Int]
    var values: [Float]
    var source: String
}

/// A CLIP model's configuration and frozen text-tower weights.
public struct CLIPCheckpoint: Sendable {
    public var configuration: CLIPConfiguration
    public var text: CLIPTextWeights
    /// The `logit_scale` parameter as stored: the log of CLIP's temperature tau.
    public var logLogitScale: Float

    /// tau = exp(logit_scale), 100 for the released models.
    public var logitScale: Float { exp(logLogitScale) }

    public init(configuration: CLIPConfiguration, text: CLIPTextWeights, logLogitScale: Float) {
        self.configuration = configuration
        self.text = text
        self.logLogitScale = logLogitScale
    }

    /// The token-embedding row of `row` (a token id), width W.
    public func tokenEmbedding(row: Int) -> [Float] {
        let w = configuration.text.hiddenSize
        precondition(row >= 0 && row < configuration.text.vocabularySize, "token id \(row) outside the vocabulary")
        return Array(text.tokenEmbedding[(row * w)..<((row + 1) * w)])
    }

    /// Loads a Hugging Face or open_clip checkpoint directory.
    public init(directory: URL) throws {
        let files = try CLIPCheckpointFiles(directory: directory)
        let file = try SafetensorsFile(url: files.weights)
        let tensors = try Self.readTextTensors(file, isOpenCLIP: files.layout == .openCLIP)
        try self.init(configuration: files.configuration, tensors: tensors, path: files.weights.path)
    }

    /// Reads, renames and converts every text tensor to Hugging Face names; vision ones are skipped.
    private static func readTextTensors(_ file: SafetensorsFile, isOpenCLIP: Bool) throws -> [String: NamedTensor] {
        let path = file.url.path
        var tensors: [String: NamedTensor] = [:]
        for name in file.tensorNames {
            if isOpenCLIP {
                if WeightRenaming.isIgnored(name, prefixes: WeightRenaming.ignoredOpenCLIPPrefixes) { continue }
                let renamed = WeightRenaming.huggingFaceName(openCLIP: name)
                guard Self.expectedNamePattern(renamed) || renamed.contains(".self_attn.in_proj_") else {
                    throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: name)
                }
                let info = try file.info(name)
                for (hfName, shape, values) in WeightRenaming.convertOpenCLIPTensor(name: renamed, shape: info.shape, values: try file.floats(name)) {
                    tensors[hfName] = NamedTensor(shape: shape, values: values, source: name)
                }
            } else {
                if WeightRenaming.isIgnored(name, prefixes: WeightRenaming.ignoredHuggingFacePrefixes) { continue }
                guard Self.expectedNamePattern(name) else { throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: name) }
                tensors[name] = NamedTensor(shape: try file.info(name).shape, values: try file.floats(name), source: name)
            }
        }
        return tensors
    }

    /// Whether a (Hugging Face) name could belong to the text tower at all; the exact set is
    /// checked against the configuration in `init(configuration:tensors:path:)`.
    private static func expectedNamePattern(_ name: String) -> Bool {
        name.hasPrefix("text_model.") || name == "text_projection.weight" || name == "logit_scale"
    }

    /// Builds the weights from Hugging Face-named tensors, strictly.
    init(configuration: CLIPConfiguration, tensors: [String: NamedTensor], path: String) throws {
        let t = configuration.text
        let (v, w, i, positions, proj) = (t.vocabularySize, t.hiddenSize, t.intermediateSize, t.maxPositions, configuration.projectionDim)
        var remaining = tensors
        func take(_ name: String, _ expected: [Int]) throws -> [Float] {
            guard let tensor = remaining.removeValue(forKey: name) else {
                throw CLIPCheckpointError.missingTensor(path: path, tensor: name)
            }
            // A scalar may be stored with shape [] or [1].
            let matches = tensor.shape == expected || (expected.isEmpty && tensor.shape == [1])
            guard matches else {
                let described = tensor.source == name ? name : "\(tensor.source) (renamed to \(name))"
                throw CLIPCheckpointError.wrongShape(path: path, tensor: described, shape: tensor.shape, expected: expected)
            }
            return tensor.values
        }
        let prefix = "text_model."
        let tokenEmbedding = try take(prefix + "embeddings.token_embedding.weight", [v, w])
        let positionEmbedding = try take(prefix + "embeddings.position_embedding.weight", [positions, w])
        var layers: [CLIPEncoderLayerWeights] = []
        for l in 0..<t.hiddenLayers {
            let p = prefix + "encoder.layers.\(l)."
            let q = try take(p + "self_attn.q_proj.weight", [w, w]), qb = try take(p + "self_attn.q_proj.bias", [w])
            let k = try take(p + "self_attn.k_proj.weight", [w, w]), kb = try take(p + "self_attn.k_proj.bias", [w])
            let vv = try take(p + "self_attn.v_proj.weight", [w, w]), vb = try take(p + "self_attn.v_proj.bias", [w])
            layers.append(CLIPEncoderLayerWeights(
                layerNorm1Weight: try take(p + "layer_norm1.weight", [w]),
                layerNorm1Bias: try take(p + "layer_norm1.bias", [w]),
                qkvWeight: q + k + vv,
                qkvBias: qb + kb + vb,
                outWeight: try take(p + "self_attn.out_proj.weight", [w, w]),
                outBias: try take(p + "self_attn.out_proj.bias", [w]),
                layerNorm2Weight: try take(p + "layer_norm2.weight", [w]),
                layerNorm2Bias: try take(p + "layer_norm2.bias", [w]),
                fc1Weight: try take(p + "mlp.fc1.weight", [i, w]),
                fc1Bias: try take(p + "mlp.fc1.bias", [i]),
                fc2Weight: try take(p + "mlp.fc2.weight", [w, i]),
                fc2Bias: try take(p + "mlp.fc2.bias", [w])))
        }
        let text = CLIPTextWeights(
            tokenEmbedding: tokenEmbedding,
            positionEmbedding: positionEmbedding,
            layers: layers,
            finalLayerNormWeight: try take(prefix + "final_layer_norm.weight", [w]),
            finalLayerNormBias: try take(prefix + "final_layer_norm.bias", [w]),
            textProjection: try take("text_projection.weight", [proj, w]))
        let logLogitScale = try take("logit_scale", [])[0]
        if let extra = remaining.keys.sorted().first {
            throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: extra)
        }
        self.init(configuration: configuration, text: text, logLogitScale: logLogitScale)
    }

    /// The text tower's tensors under Hugging Face names (q/k/v split again), for export.
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
        return out
    }

    /// Writes a Hugging Face directory (config.json + model.safetensors) holding the text tower.
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
