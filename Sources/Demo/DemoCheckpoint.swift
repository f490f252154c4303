// A small CLIP checkpoint with seeded random weights, written in the Hugging Face layout
// (config.json, model.safetensors, vocab.json, merges.txt) that CLIPCheckpoint(directory:) and
// CLIPTokenizer(directory:) load: the Swift counterpart of the clip-tiny fixture that
// Tools/make_tiny_clip.py builds with transformers.

import CLIP
import Foundation
import Formats

/// The demo model's sizes (transformers' CLIPTextConfig names in the comments). The defaults
/// keep the demo to seconds on two cores; 8 heads rather than 4 make the text features depend
/// on the class tokens for every seed tried (see DemoCheckpoint.randomCheckpoint).
public struct DemoModelSize: Sendable, Equatable {
    public var width: Int  // hidden_size
    public var layers: Int  // num_hidden_layers
    public var heads: Int  // num_attention_heads
    public var intermediateSize: Int  // intermediate_size
    public var positions: Int  // max_position_embeddings
    public var projection: Int  // projection_dim
    public var activation: CLIPActivation  // hidden_act

    public init(
        width: Int = 64, layers: Int = 2, heads: Int = 8, intermediateSize: Int? = nil, positions: Int = 77,
        projection: Int = 32, activation: CLIPActivation = .quickGELU
    ) {
        self.width = width
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize ?? 4 * width
        self.positions = positions
        self.projection = projection
        self.activation = activation
    }

    func validate() throws {
        guard width > 0, layers > 0, heads > 0, intermediateSize > 0, projection > 0 else {
            throw DemoError.invalidModelSize(reason: "every size must be positive")
        }
        guard width % heads == 0 else {
            throw DemoError.invalidModelSize(reason: "width \(width) must be a multiple of heads \(heads)")
        }
        // SOT, at least one word token and EOT.
        guard positions >= 3 else { throw DemoError.invalidModelSize(reason: "positions must be at least 3") }
    }
}

public enum DemoCheckpoint {
    /// The seed the demo uses unless told otherwise; the task's documented accuracies hold for it.
    public static let defaultSeed: UInt64 = 1

    /// Writes config.json, model.safetensors (F32), vocab.json and merges.txt into `directory`.
    /// The vocabulary is learned from `words` (each split at spaces and lower-cased; repeat a
    /// word to weight it); the weights are drawn from `seed`, so the same arguments give the
    /// same bytes.
    public static func write(to directory: URL, words: [String], size: DemoModelSize = .init(), seed: UInt64) throws {
        let (checkpoint, vocabulary) = try make(words: words, size: size, seed: seed)
        try vocabulary.write(to: directory)
        try DemoFiles.write(configurationJSON(checkpoint.configuration, vocabulary: vocabulary),
                            to: directory.appendingPathComponent("config.json"))
        try writeWeights(checkpoint, vision: nil, to: directory)
    }

    /// Writes model.safetensors: the text tower and logit_scale, and the image tower when given
    /// (the demo's image task fits its projection after the text tower exists; see DemoImageTask).
    public static func writeWeights(_ checkpoint: CLIPCheckpoint, vision: CLIPVisionWeights?, to directory: URL) throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        var tensors = checkpoint.huggingFaceTensors()
        if let vision { tensors += CLIPVisionCheckpoint(configuration: checkpoint.configuration, vision: vision).huggingFaceTensors() }
        for tensor in tensors {
            try writer.add(tensor.name, floats: tensor.values, shape: tensor.shape)
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
    }

    /// The checkpoint and vocabulary `write` stores, in memory.
    public static func make(words: [String], size: DemoModelSize = .init(), seed: UInt64) throws -> (CLIPCheckpoint, BPEVocabulary) {
        try size.validate()
        var wordCounts: [String: Int] = [:]
        for text in words {
            for word in text.lowercased().split(whereSeparator: \.isWhitespace) { wordCounts[String(word), default: 0] += 1 }
        }
        guard !wordCounts.isEmpty else { throw DemoError.noWords }
        let vocabulary = BPEVocabularyBuilder.learn(wordCounts: wordCounts)
        let configuration = CLIPConfiguration(
            text: CLIPTextConfiguration(
                vocabularySize: vocabulary.tokens.count, hiddenSize: size.width, intermediateSize: size.intermediateSize,
                hiddenLayers: size.layers, attentionHeads: size.heads, maxPositions: size.positions,
                hiddenActivation: size.activation, layerNormEpsilon: Float(layerNormEpsilon)),
            vision: visionConfiguration(size),
            projectionDim: size.projection,
            logitScaleInitValue: logLogitScale)
        return (randomCheckpoint(configuration, seed: seed), vocabulary)
    }

    /// CLIP's LayerNorm epsilon, written to config.json as a Double so that it reads 1e-05.
    static let layerNormEpsilon = 1e-5

    /// log(100): the released models' logit scale tau = 100 (LAMM.md, Notation).
    static let logLogitScale = Float(Foundation.log(100.0))

    /// Random weights scaled so that different class names give clearly different text
    /// features. With unit-variance embeddings, q and k N(0, 1 / sqrt(W)) and 4 heads, the EOT
    /// row of some seeds barely reads the class tokens: for 3 of 8 seeds tried, two of the 20
    /// demo classes got features with cosine above 0.995. Hence:
    ///   - q and k N(0, 3 / sqrt(W)): attention scores of standard deviation ~9 after the
    ///     1/sqrt(head size) scaling, so each head reads a few tokens rather than their average,
    ///     and 8 heads (DemoModelSize's default) give each layer 8 chances to read a class token;
    ///   - token and position embeddings N(0, 0.3): the residual stream starts small next to the
    ///     attention and MLP branches (unit-variance activations), so the EOT row's own embedding,
    ///     the same in every prompt, does not dominate its final hidden state;
    ///   - v, out, fc1 N(0, 1 / sqrt(W)), fc2 and the text projection N(0, 1 / sqrt(fan in)):
    ///     each branch keeps unit-variance activations (LeCun initialisation);
    ///   - LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05), as Tools/make_tiny_clip.py draws
    ///     them, so every parameter matters.
    /// Measured with the default sizes and DemoTask.promptWords() for seeds 1-8: the mean pairwise
    /// cosine of the 20 default classes' normalised features is 0.56-0.79, the largest 0.88-0.99.
    static func randomCheckpoint(_ configuration: CLIPConfiguration, seed: UInt64) -> CLIPCheckpoint {
        // CLIPCheckpoint.random gives the tensors' layout; every one is drawn again below.
        var checkpoint = CLIPCheckpoint.random(configuration: configuration, seed: seed)
        var rng = SplitMix64(seed: seed)
        let t = configuration.text
        let (w, i) = (t.hiddenSize, t.intermediateSize)
        let fanIn = 1 / Float(w).squareRoot()
        func normal(_ count: Int, std: Float, mean: Float = 0) -> [Float] {
            (0..<count).map { _ in mean + std * rng.nextGaussian() }
        }
        func layerNormWeight() -> [Float] { normal(w, std: 0.1, mean: 1) }
        func bias(_ count: Int) -> [Float] { normal(count, std: 0.05) }
        checkpoint.text.tokenEmbedding = normal(t.vocabularySize * w, std: 0.3)
        checkpoint.text.positionEmbedding = normal(t.maxPositions * w, std: 0.3)
        checkpoint.text.layers = (0..<t.hiddenLayers).map { _ in block(width: w, intermediate: i, &rng) }
        checkpoint.text.finalLayerNormWeight = layerNormWeight()
        checkpoint.text.finalLayerNormBias = bias(w)
        checkpoint.text.textProjection = normal(configuration.projectionDim * w, std: fanIn)
        checkpoint.logLogitScale = logLogitScale
        return checkpoint
    }

    /// One encoder block drawn as randomCheckpoint's comment says (both towers use it).
    static func block(width w: Int, intermediate i: Int, _ rng: inout SplitMix64) -> CLIPEncoderLayerWeights {
        let fanIn = 1 / Float(w).squareRoot()
        func normal(_ count: Int, std: Float, mean: Float = 0) -> [Float] {
            (0..<count).map { _ in mean + std * rng.nextGaussian() }
        }
        return CLIPEncoderLayerWeights(
            layerNorm1Weight: normal(w, std: 0.1, mean: 1), layerNorm1Bias: normal(w, std: 0.05),
            qkvWeight: normal(2 * w * w, std: 3 * fanIn) + normal(w * w, std: fanIn), qkvBias: normal(3 * w, std: 0.05),
            outWeight: normal(w * w, std: fanIn), outBias: normal(w, std: 0.05),
            layerNorm2Weight: normal(w, std: 0.1, mean: 1), layerNorm2Bias: normal(w, std: 0.05),
            fc1Weight: normal(i * w, std: fanIn), fc1Bias: normal(i, std: 0.05),
            fc2Weight: normal(w * i, std: 1 / Float(i).squareRoot()), fc2Bias: normal(w, std: 0.05))
    }

    /// An image tower drawn like the text tower (randomCheckpoint): blocks whose attention reads
    /// a few tokens, so that prompt tokens can change what the class token gathers; the patch
    /// convolution N(0, 1 / sqrt(3 p^2)), class and position embeddings N(0, 0.3). Its
    /// visual_projection is a placeholder until DemoImageTask fits it.
    public static func randomVision(_ configuration: CLIPConfiguration, seed: UInt64) -> CLIPVisionWeights {
        var rng = SplitMix64(seed: seed)
        let v = configuration.vision
        let (w, p) = (v.hiddenSize, v.patchSize)
        func normal(_ count: Int, std: Float, mean: Float = 0) -> [Float] {
            (0..<count).map { _ in mean + std * rng.nextGaussian() }
        }
        let patch = normal(w * v.channels * p * p, std: 1 / Float(v.channels * p * p).squareRoot())
        let (classEmbedding, positions) = (normal(w, std: 0.3), normal(v.positionCount * w, std: 0.3))
        let (preWeight, preBias) = (normal(w, std: 0.1, mean: 1), normal(w, std: 0.05))
        let layers = (0..<v.hiddenLayers).map { _ in block(width: w, intermediate: v.intermediateSize, &rng) }
        return CLIPVisionWeights(
            patchEmbedding: patch, classEmbedding: classEmbedding, positionEmbedding: positions,
            preLayerNormWeight: preWeight, preLayerNormBias: preBias, layers: layers,
            postLayerNormWeight: normal(w, std: 0.1, mean: 1), postLayerNormBias: normal(w, std: 0.05),
            visualProjection: normal(configuration.projectionDim * w, std: 1 / Float(w).squareRoot()))
    }

    /// A vision configuration of the same small sizes (images of 32 pixels, patches of 8), as
    /// config.json carries it; the image task writes the tower's weights.
    static func visionConfiguration(_ size: DemoModelSize) -> CLIPVisionConfiguration {
        var vision = CLIPVisionConfiguration()
        vision.hiddenSize = size.width
        vision.intermediateSize = size.intermediateSize
        vision.hiddenLayers = size.layers
        vision.attentionHeads = size.heads
        vision.imageSize = 32
        vision.patchSize = 8
        vision.layerNormEpsilon = Float(layerNormEpsilon)
        vision.hiddenActivation = size.activation
        return vision
    }

    /// config.json as transformers' CLIPConfig.save_pretrained writes it (the keys of
    /// Tests/Fixtures/clip-tiny/config.json, sorted, indented by two). Floats keep their
    /// decimal point (`1.0`, not `1`): transformers' strict config classes reject an integer
    /// where a float belongs, which rules out JSONEncoder.
    static func configurationJSON(_ configuration: CLIPConfiguration, vocabulary: BPEVocabulary) -> Data {
        let t = configuration.text, v = configuration.vision
        let endOfText = vocabulary.tokens.count - 1
        let common: [String: ConfigValue] = [
            "attention_dropout": .float(0), "initializer_factor": .float(1), "initializer_range": .float(0.02),
            "layer_norm_eps": .float(layerNormEpsilon), "projection_dim": .int(configuration.projectionDim),
        ]
        let text = common.merging([
            "bos_token_id": .int(vocabulary.tokens.count - 2), "eos_token_id": .int(endOfText), "pad_token_id": .int(endOfText),
            "hidden_act": .string(t.hiddenActivation.rawValue), "hidden_size": .int(t.hiddenSize),
            "intermediate_size": .int(t.intermediateSize), "max_position_embeddings": .int(t.maxPositions),
            "model_type": .string("clip_text_model"), "num_attention_heads": .int(t.attentionHeads),
            "num_hidden_layers": .int(t.hiddenLayers), "vocab_size": .int(t.vocabularySize),
        ]) { $1 }
        let vision = common.merging([
            "hidden_act": .string(v.hiddenActivation.rawValue), "hidden_size": .int(v.hiddenSize),
            "image_size": .int(v.imageSize), "intermediate_size": .int(v.intermediateSize),
            "model_type": .string("clip_vision_model"), "num_attention_heads": .int(v.attentionHeads),
            "num_channels": .int(v.channels), "num_hidden_layers": .int(v.hiddenLayers), "patch_size": .int(v.patchSize),
        ]) { $1 }
        let file: ConfigValue = .object([
            "architectures": .strings(["CLIPModel"]), "dtype": .string("float32"), "initializer_factor": .float(1),
            "logit_scale_init_value": .float(Foundation.log(100.0)), "model_type": .string("clip"),
            "projection_dim": .int(configuration.projectionDim), "text_config": .object(text), "vision_config": .object(vision),
        ])
        return Data((file.json(indent: "") + "\n").utf8)
    }
}

/// The JSON values of a config.json, written as Python's json.dump(sort_keys=True, indent=2) does.
private enum ConfigValue {
    case string(String)
    case int(Int)
    /// Written as Python's repr: 1.0, 0.02, 1e-05, 4.605170185988092.
    case float(Double)
    case strings([String])
    case object([String: ConfigValue])

    func json(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case let .string(value): return quoted(value)
        case let .int(value): return String(value)
        case let .float(value): return value.description
        case let .strings(values): return "[\n" + values.map { inner + quoted($0) }.joined(separator: ",\n") + "\n\(indent)]"
        case let .object(members):
            return "{\n" + members.keys.sorted().map { inner + quoted($0) + ": " + members[$0]!.json(indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    private func quoted(_ value: String) -> String {
        // Encoding a String cannot fail.
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }
}
