// Loading a CLIP checkpoint directory. Two layouts are accepted:
//   Hugging Face: config.json + model.safetensors (transformers' CLIPModel names)
//   open_clip:    open_clip_config.json + open_clip_model.safetensors (OpenAI names, renamed
//                 by WeightRenaming)
// One pass over the (memory-mapped) safetensors file renames each tensor once and routes it to
// the tower it belongs to; a tower the caller did not ask for has its tensors skipped before
// they are read, so loading the text tower alone never converts the image tower's weights.
// Each tower then takes its tensors strictly (mlx-swift-examples' Load.swift): every expected
// tensor must be present with its shape, and none may be left over. Weights are upcast to F32 once.

import Foundation
import Formats

public enum CLIPCheckpointError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case notADirectory(path: String)
    case notAFile(path: String, kind: FileKind)
    case missingConfiguration(directory: String)
    case missingWeights(path: String)
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case wrongShape(path: String, tensor: String, shape: [Int], expected: [Int])

    public var description: String {
        switch self {
        case let .notADirectory(path):
            "checkpoint directory \(path) does not exist or is not a directory; pass the directory holding config.json and model.safetensors"
        case let .notAFile(path, kind):
            "\(path) is \(kind), not a regular file; nothing was read from it. A CLIP checkpoint directory holds its configuration and weights as files: put the checkpoint's own file there"
        case let .missingConfiguration(directory):
            "\(directory) holds neither config.json (Hugging Face) nor open_clip_config.json (open_clip); pass a CLIP checkpoint directory"
        case let .missingWeights(path):
            "\(path) is missing; a CLIP checkpoint directory needs its safetensors weights next to the configuration"
        case let .missingTensor(path, tensor) where CLIPTower(tensor: tensor) == .vision:
            "\(path) has no tensor '\(tensor)', which the CLIP image tower needs; the checkpoint is incomplete, text-only or of another model"
        case let .missingTensor(path, tensor):
            "\(path) has no tensor '\(tensor)', which the CLIP text tower needs; the checkpoint is incomplete or of another model"
        case let .unexpectedTensor(path, tensor) where CLIPTower(tensor: tensor) == .vision:
            "\(path) holds an unexpected image-tower tensor '\(tensor)'; only CLIP's ViT image tower is supported (not ResNet or timm trunks)"
        case let .unexpectedTensor(path, tensor):
            "\(path) holds an unexpected tensor '\(tensor)'; the checkpoint is not a CLIP model this tool understands"
        case let .wrongShape(path, tensor, shape, expected):
            "\(path): tensor '\(tensor)' has shape \(shape) but the \(CLIPTower(tensor: tensor) == .vision ? "vision " : "")configuration implies \(expected); the weights and configuration do not match"
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

    /// Every file of a checkpoint directory that loading it may read: both layouts'
    /// configuration and weights, and the tokenizer's vocabulary files.
    public static let namesRead = ["config.json", "model.safetensors", "open_clip_config.json", "open_clip_model.safetensors",
                                   "vocab.json", "merges.txt", "bpe_simple_vocab_16e6.txt.gz"]

    public init(directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIPCheckpointError.notADirectory(path: directory.path)
        }
        let hfConfig = directory.appendingPathComponent("config.json")
        let openCLIPConfig = directory.appendingPathComponent("open_clip_config.json")
        // Each file's kind is told before it is opened: opening a FIFO waits for a writer forever.
        let hfKind = try Self.kind(of: hfConfig), openCLIPKind = try Self.kind(of: openCLIPConfig)
        if hfKind == .regular {
            layout = .huggingFace
            configurationFile = hfConfig
            configuration = try CLIPConfiguration.decodeHuggingFace(try Data(contentsOf: hfConfig), source: hfConfig.path)
            weights = directory.appendingPathComponent("model.safetensors")
        } else if openCLIPKind == .regular {
            layout = .openCLIP
            configurationFile = openCLIPConfig
            configuration = try CLIPConfiguration.decodeOpenCLIP(try Data(contentsOf: openCLIPConfig), source: openCLIPConfig.path)
            weights = directory.appendingPathComponent("open_clip_model.safetensors")
        } else {
            throw CLIPCheckpointError.missingConfiguration(directory: directory.path)
        }
        guard try Self.kind(of: weights) == .regular else {
            throw CLIPCheckpointError.missingWeights(path: weights.path)
        }
    }

    /// `.regular` or `.missing`; anything else that is there (a FIFO, a device, a folder) is refused.
    static func kind(of file: URL) throws -> FileKind {
        let kind = FileKind(path: file.path)
        guard kind == .regular || kind == .missing else { throw CLIPCheckpointError.notAFile(path: file.path, kind: kind) }
        return kind
    }
}

/// The two halves of a CLIP model.
enum CLIPTower: Hashable {
    case text, vision

    /// The tower a tensor name belongs to: image-tower names under either layout (`vision_model.`,
    /// `visual_projection.`, open_clip's `visual.`), everything else the text tower's.
    init(tensor name: String) {
        self = name.hasPrefix("vision_model.") || name.hasPrefix("visual_projection.") || name.hasPrefix("visual.")
            ? .vision : .text
    }
}

/// A tensor under its Hugging Face name, with the name it had in the file.
struct NamedTensor {
    var shape: [Int]
    var values: [Float]
    var source: String
}

/// One tower's tensors under Hugging Face names, each taken once and checked against the shape
/// the configuration implies.
struct TowerTensors {
    let path: String
    var remaining: [String: NamedTensor] = [:]

    init(path: String) { self.path = path }

    mutating func take(_ name: String, _ expected: [Int]) throws -> [Float] {
        guard let tensor = remaining.removeValue(forKey: name) else {
            throw CLIPCheckpointError.missingTensor(path: path, tensor: name)
        }
        // A scalar may be stored with shape [] or [1].
        guard tensor.shape == expected || (expected.isEmpty && tensor.shape == [1]) else {
            let described = tensor.source == name ? name : "\(tensor.source) (renamed to \(name))"
            throw CLIPCheckpointError.wrongShape(path: path, tensor: described, shape: tensor.shape, expected: expected)
        }
        return tensor.values
    }

    /// Fails on the first tensor (by name) that no `take` asked for, under its name in the file.
    func expectEmpty() throws {
        if let extra = remaining.keys.sorted().first {
            throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: remaining[extra]!.source)
        }
    }
}

/// A checkpoint's tensors read in one pass, by tower; a tower not asked for stays nil, as does
/// the image tower of a file that holds none of its tensors.
struct CheckpointTensors {
    var text: TowerTensors?
    var vision: TowerTensors?

    init(_ files: CLIPCheckpointFiles, towers: Set<CLIPTower>) throws {
        let file = try SafetensorsFile(url: files.weights)
        let path = file.url.path
        var text = TowerTensors(path: path), vision = TowerTensors(path: path)
        var holdsVision = false
        let isOpenCLIP = files.layout == .openCLIP
        for name in file.tensorNames {
            let tower: CLIPTower, renamed: String
            switch Self.route(name, isOpenCLIP: isOpenCLIP) {
            case .bookkeeping:
                continue
            case .unknown:
                // The text tower owns whatever is not the image tower's, so only it objects.
                if towers.contains(.text) { throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: name) }
                continue
            case let .tower(routed, hfName):
                (tower, renamed) = (routed, hfName)
            }
            guard towers.contains(tower) else { continue }
            if tower == .vision {
                guard WeightRenaming.isVisionName(renamed) else { throw CLIPCheckpointError.unexpectedTensor(path: path, tensor: name) }
                holdsVision = true
            }
            let shape = try file.info(name).shape
            let converted = isOpenCLIP
                ? WeightRenaming.convertOpenCLIPTensor(name: renamed, shape: shape, values: try file.floats(name))
                : [(renamed, shape, try file.floats(name))]
            for (hfName, shape, values) in converted {
                let tensor = NamedTensor(shape: shape, values: values, source: name)
                if tower == .vision { vision.remaining[hfName] = tensor } else { text.remaining[hfName] = tensor }
            }
        }
        self.text = towers.contains(.text) ? text : nil
        self.vision = towers.contains(.vision) && holdsVision ? vision : nil
    }

    private enum Route {
        case tower(CLIPTower, huggingFaceName: String)
        /// Entries that are not weights (position ids, open_clip's sizes).
        case bookkeeping
        /// Neither tower's.
        case unknown
    }

    /// Where a file's tensor goes, renamed once. Under open_clip everything below `visual.` is the
    /// image tower's, whether or not its renamed form is one the image tower knows.
    private static func route(_ name: String, isOpenCLIP: Bool) -> Route {
        if isOpenCLIP {
            if name.hasPrefix("visual.") { return .tower(.vision, huggingFaceName: WeightRenaming.huggingFaceName(openCLIP: name)) }
            if WeightRenaming.isIgnored(name, prefixes: WeightRenaming.ignoredOpenCLIPPrefixes) { return .bookkeeping }
            let renamed = WeightRenaming.huggingFaceName(openCLIP: name)
            return WeightRenaming.isTextName(renamed) || renamed.contains(".self_attn.in_proj_")
                ? .tower(.text, huggingFaceName: renamed) : .unknown
        }
        if WeightRenaming.isIgnored(name, prefixes: WeightRenaming.ignoredHuggingFacePrefixes) { return .bookkeeping }
        if WeightRenaming.isVisionName(name) { return .tower(.vision, huggingFaceName: name) }
        return WeightRenaming.isTextName(name) ? .tower(.text, huggingFaceName: name) : .unknown
    }
}

extension CLIPEncoderLayerWeights {
    /// The block below `prefix`, taken strictly; q, k and v are stacked into one [3W, W] weight.
    init(taking tensors: inout TowerTensors, prefix p: String, width w: Int, intermediate i: Int) throws {
        let q = try tensors.take(p + "self_attn.q_proj.weight", [w, w]), qb = try tensors.take(p + "self_attn.q_proj.bias", [w])
        let k = try tensors.take(p + "self_attn.k_proj.weight", [w, w]), kb = try tensors.take(p + "self_attn.k_proj.bias", [w])
        let v = try tensors.take(p + "self_attn.v_proj.weight", [w, w]), vb = try tensors.take(p + "self_attn.v_proj.bias", [w])
        self.init(
            layerNorm1Weight: try tensors.take(p + "layer_norm1.weight", [w]),
            layerNorm1Bias: try tensors.take(p + "layer_norm1.bias", [w]),
            qkvWeight: q + k + v,
            qkvBias: qb + kb + vb,
            outWeight: try tensors.take(p + "self_attn.out_proj.weight", [w, w]),
            outBias: try tensors.take(p + "self_attn.out_proj.bias", [w]),
            layerNorm2Weight: try tensors.take(p + "layer_norm2.weight", [w]),
            layerNorm2Bias: try tensors.take(p + "layer_norm2.bias", [w]),
            fc1Weight: try tensors.take(p + "mlp.fc1.weight", [i, w]),
            fc1Bias: try tensors.take(p + "mlp.fc1.bias", [i]),
            fc2Weight: try tensors.take(p + "mlp.fc2.weight", [w, i]),
            fc2Bias: try tensors.take(p + "mlp.fc2.bias", [w]))
    }

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
