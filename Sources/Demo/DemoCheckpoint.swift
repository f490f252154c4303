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
        // Only the text tower and logit_scale: nothing in this project reads vision weights
        // (image features come precomputed), and the strict loader skips vision_model.* anyway.
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for tensor in checkpoint.huggingFaceTensors() {
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
    /// features. transformers' initialiser (N(0, 0.02), as CLIPCheckpoint.random draws) leaves the
    /// EOT row attending evenly to a shared template, and even unit-variance weights with 4 heads
    /// let the EOT row of some seeds miss the class tokens, so that two classes get features
    /// with cosine above 0.999. Hence:
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
        for l in 0..<t.hiddenLayers {
            checkpoint.text.layers[l].layerNorm1Weight = layerNormWeight()
            checkpoint.text.layers[l].layerNorm1Bias = bias(w)
            checkpoint.text.layers[l].qkvWeight = normal(2 * w * w, std: 3 * fanIn) + normal(w * w, std: fanIn)
            checkpoint.text.layers[l].qkvBias = bias(3 * w)
            checkpoint.text.layers[l].outWeight = normal(w * w, std: fanIn)
            checkpoint.text.layers[l].outBias = bias(w)
            checkpoint.text.layers[l].layerNorm2Weight = layerNormWeight()
            checkpoint.text.layers[l].layerNorm2Bias = bias(w)
            checkpoint.text.layers[l].fc1Weight = normal(i * w, std: fanIn)
            checkpoint.text.layers[l].fc1Bias = bias(i)
            checkpoint.text.layers[l].fc2Weight = normal(w * i, std: 1 / Float(i).squareRoot())
            checkpoint.text.layers[l].fc2Bias = bias(w)
        }
        checkpoint.text.finalLayerNormWeight = layerNormWeight()
        checkpoint.text.finalLayerNormBias = bias(w)
        checkpoint.text.textProjection = normal(configuration.projectionDim * w, std: fanIn)
        checkpoint.logLogitScale = logLogitScale
        return checkpoint
    }

    /// A vision configuration of the same small sizes: config.json carries one, as
    /// transformers writes it, though no vision tensors are stored.
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
    /// Tests/Fixtures/clip-tiny/config.json), with sorted keys so the bytes are reproducible.
    static func configurationJSON(_ configuration: CLIPConfiguration, vocabulary: BPEVocabulary) throws -> Data {
        let t = configuration.text, v = configuration.vision
        let endOfText = vocabulary.tokens.count - 1
        let file = HuggingFaceCLIPConfig(
            projectionDim: configuration.projectionDim,
            logitScaleInitValue: Foundation.log(100.0),
            textConfig: .init(
                bosTokenID: vocabulary.tokens.count - 2, eosTokenID: endOfText, padTokenID: endOfText,
                hiddenAct: t.hiddenActivation.rawValue, hiddenSize: t.hiddenSize, intermediateSize: t.intermediateSize,
                layerNormEps: layerNormEpsilon, maxPositionEmbeddings: t.maxPositions,
                numAttentionHeads: t.attentionHeads, numHiddenLayers: t.hiddenLayers,
                projectionDim: configuration.projectionDim, vocabSize: t.vocabularySize),
            visionConfig: .init(
                hiddenAct: v.hiddenActivation.rawValue, hiddenSize: v.hiddenSize, imageSize: v.imageSize,
                intermediateSize: v.intermediateSize, layerNormEps: layerNormEpsilon,
                numAttentionHeads: v.attentionHeads, numChannels: v.channels, numHiddenLayers: v.hiddenLayers,
                patchSize: v.patchSize, projectionDim: configuration.projectionDim))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }
}

/// transformers' CLIPConfig.to_dict(), the keys a text-and-vision CLIP config.json holds.
private struct HuggingFaceCLIPConfig: Encodable {
    struct TextConfig: Encodable {
        var attentionDropout = 0.0
        var bosTokenID: Int
        var eosTokenID: Int
        var padTokenID: Int
        var hiddenAct: String
        var hiddenSize: Int
        var initializerFactor = 1.0
        var initializerRange = 0.02
        var intermediateSize: Int
        var layerNormEps: Double
        var maxPositionEmbeddings: Int
        var modelType = "clip_text_model"
        var numAttentionHeads: Int
        var numHiddenLayers: Int
        var projectionDim: Int
        var vocabSize: Int

        enum CodingKeys: String, CodingKey {
            case attentionDropout = "attention_dropout", bosTokenID = "bos_token_id", eosTokenID = "eos_token_id"
            case padTokenID = "pad_token_id", hiddenAct = "hidden_act", hiddenSize = "hidden_size"
            case initializerFactor = "initializer_factor", initializerRange = "initializer_range"
            case intermediateSize = "intermediate_size", layerNormEps = "layer_norm_eps"
            case maxPositionEmbeddings = "max_position_embeddings", modelType = "model_type"
            case numAttentionHeads = "num_attention_heads", numHiddenLayers = "num_hidden_layers"
            case projectionDim = "projection_dim", vocabSize = "vocab_size"
        }
    }

    struct VisionConfig: Encodable {
        var attentionDropout = 0.0
        var hiddenAct: String
        var hiddenSize: Int
        var imageSize: Int
        var initializerFactor = 1.0
        var initializerRange = 0.02
        var intermediateSize: Int
        var layerNormEps: Double
        var modelType = "clip_vision_model"
        var numAttentionHeads: Int
        var numChannels: Int
        var numHiddenLayers: Int
        var patchSize: Int
        var projectionDim: Int

        enum CodingKeys: String, CodingKey {
            case attentionDropout = "attention_dropout", hiddenAct = "hidden_act", hiddenSize = "hidden_size"
            case imageSize = "image_size", initializerFactor = "initializer_factor"
            case initializerRange = "initializer_range", intermediateSize = "intermediate_size"
            case layerNormEps = "layer_norm_eps", modelType = "model_type"
            case numAttentionHeads = "num_attention_heads", numChannels = "num_channels"
            case numHiddenLayers = "num_hidden_layers", patchSize = "patch_size", projectionDim = "projection_dim"
        }
    }

    var architectures = ["CLIPModel"]
    var dtype = "float32"
    var initializerFactor = 1.0
    var logitScaleInitValue: Double
    var modelType = "clip"
    var projectionDim: Int
    var textConfig: TextConfig
    var visionConfig: VisionConfig

    init(projectionDim: Int, logitScaleInitValue: Double, textConfig: TextConfig, visionConfig: VisionConfig) {
        self.projectionDim = projectionDim
        self.logitScaleInitValue = logitScaleInitValue
        self.textConfig = textConfig
        self.visionConfig = visionConfig
    }

    enum CodingKeys: String, CodingKey {
        case architectures, dtype, initializerFactor = "initializer_factor"
        case logitScaleInitValue = "logit_scale_init_value", modelType = "model_type"
        case projectionDim = "projection_dim", textConfig = "text_config", visionConfig = "vision_config"
    }
}

