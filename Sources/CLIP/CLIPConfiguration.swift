// CLIP configurations as written by Hugging Face (config.json, transformers'
// configuration_clip.py: CLIPTextConfig, CLIPVisionConfig, CLIPConfig) and by open_clip
// (open_clip_config.json: model_cfg with text_cfg and vision_cfg). Keys that a file omits
// take the defaults of the library that wrote it, so real hub configs decode as they load there.

import Foundation

/// The MLP activation of a transformer block.
public enum CLIPActivation: String, Codable, Sendable {
    /// x * sigmoid(1.702 x), OpenAI CLIP's activation.
    case quickGELU = "quick_gelu"
    /// The exact GELU, 0.5 x (1 + erf(x / sqrt 2)).
    case gelu
}

/// The text tower's sizes (transformers' CLIPTextConfig).
public struct CLIPTextConfiguration: Codable, Sendable, Equatable {
    public var vocabularySize: Int = 49408
    public var hiddenSize: Int = 512
    public var intermediateSize: Int = 2048
    public var hiddenLayers: Int = 12
    public var attentionHeads: Int = 8
    public var maxPositions: Int = 77
    public var hiddenActivation: CLIPActivation = .quickGELU
    public var layerNormEpsilon: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case hiddenLayers = "num_hidden_layers"
        case attentionHeads = "num_attention_heads"
        case maxPositions = "max_position_embeddings"
        case hiddenActivation = "hidden_act"
        case layerNormEpsilon = "layer_norm_eps"
    }

    public init(
        vocabularySize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048, hiddenLayers: Int = 12,
        attentionHeads: Int = 8, maxPositions: Int = 77, hiddenActivation: CLIPActivation = .quickGELU,
        layerNormEpsilon: Float = 1e-5
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.hiddenLayers = hiddenLayers
        self.attentionHeads = attentionHeads
        self.maxPositions = maxPositions
        self.hiddenActivation = hiddenActivation
        self.layerNormEpsilon = layerNormEpsilon
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? vocabularySize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        hiddenLayers = try c.decodeIfPresent(Int.self, forKey: .hiddenLayers) ?? hiddenLayers
        attentionHeads = try c.decodeIfPresent(Int.self, forKey: .attentionHeads) ?? attentionHeads
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? maxPositions
        hiddenActivation = try c.decodeIfPresent(CLIPActivation.self, forKey: .hiddenActivation) ?? hiddenActivation
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? layerNormEpsilon
    }

    public var headSize: Int { hiddenSize / attentionHeads }

    /// Checks the sizes the text tower relies on; `source` names the file in the message.
    func validate(source: String) throws {
        func fail(_ reason: String) -> CLIPConfigurationError { .invalid(path: source, reason: reason) }
        guard vocabularySize > 0, hiddenSize > 0, intermediateSize > 0, hiddenLayers > 0, maxPositions > 0 else {
            throw fail("text sizes must be positive")
        }
        guard attentionHeads > 0, hiddenSize % attentionHeads == 0 else {
            throw fail("hidden_size \(hiddenSize) must be a multiple of num_attention_heads \(attentionHeads)")
        }
        guard layerNormEpsilon > 0 else { throw fail("layer_norm_eps must be positive") }
    }
}

/// The vision tower's sizes (transformers' CLIPVisionConfig).
public struct CLIPVisionConfiguration: Codable, Sendable, Equatable {
    public var hiddenSize: Int = 768
    public var intermediateSize: Int = 3072
    public var hiddenLayers: Int = 12
    public var attentionHeads: Int = 12
    public var imageSize: Int = 224
    public var patchSize: Int = 32
    public var channels: Int = 3
    public var hiddenActivation: CLIPActivation = .quickGELU
    public var layerNormEpsilon: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case hiddenLayers = "num_hidden_layers"
        case attentionHeads = "num_attention_heads"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case channels = "num_channels"
        case hiddenActivation = "hidden_act"
        case layerNormEpsilon = "layer_norm_eps"
    }

    public init(
        hiddenSize: Int = 768, intermediateSize: Int = 3072, hiddenLayers: Int = 12, attentionHeads: Int = 12,
        imageSize: Int = 224, patchSize: Int = 32, channels: Int = 3, hiddenActivation: CLIPActivation = .quickGELU,
        layerNormEpsilon: Float = 1e-5
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.hiddenLayers = hiddenLayers
        self.attentionHeads = attentionHeads
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.channels = channels
        self.hiddenActivation = hiddenActivation
        self.layerNormEpsilon = layerNormEpsilon
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        hiddenLayers = try c.decodeIfPresent(Int.self, forKey: .hiddenLayers) ?? hiddenLayers
        attentionHeads = try c.decodeIfPresent(Int.self, forKey: .attentionHeads) ?? attentionHeads
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? patchSize
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? channels
        hiddenActivation = try c.decodeIfPresent(CLIPActivation.self, forKey: .hiddenActivation) ?? hiddenActivation
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? layerNormEpsilon
    }

    public var headSize: Int { hiddenSize / attentionHeads }
    /// Patches along one side of the image, image_size / patch_size.
    public var gridSize: Int { imageSize / patchSize }
    /// Positions of one image: the class token and one per patch (CLIPVisionEmbeddings.num_positions).
    public var positionCount: Int { 1 + gridSize * gridSize }

    /// Checks the sizes the vision tower relies on; `source` names the file in the message.
    /// Text-only use never calls it, so a text checkpoint with an odd vision_config still loads.
    func validate(source: String) throws {
        func fail(_ reason: String) -> CLIPConfigurationError { .invalid(path: source, reason: reason) }
        guard hiddenSize > 0, intermediateSize > 0, hiddenLayers > 0, imageSize > 0, patchSize > 0 else {
            throw fail("vision sizes must be positive")
        }
        guard channels == 3 else { throw fail("vision_config.num_channels is \(channels); CLIP's image tower takes 3 (RGB)") }
        guard attentionHeads > 0, hiddenSize % attentionHeads == 0 else {
            throw fail("vision_config.hidden_size \(hiddenSize) must be a positive multiple of num_attention_heads \(attentionHeads) (open_clip: of head_width)")
        }
        guard imageSize % patchSize == 0 else {
            throw fail("vision_config.image_size \(imageSize) must be a multiple of patch_size \(patchSize)")
        }
        guard layerNormEpsilon > 0 else { throw fail("vision_config.layer_norm_eps must be positive") }
    }
}

/// A whole CLIP model's configuration (transformers' CLIPConfig).
public struct CLIPConfiguration: Codable, Sendable, Equatable {
    public var text: CLIPTextConfiguration = .init()
    public var vision: CLIPVisionConfiguration = .init()
    public var projectionDim: Int = 512
    /// log of the initial logit scale, log(1 / 0.07).
    public var logitScaleInitValue: Float = 2.6592

    enum CodingKeys: String, CodingKey {
        case text = "text_config"
        case textDict = "text_config_dict"
        case vision = "vision_config"
        case visionDict = "vision_config_dict"
        case projectionDim = "projection_dim"
        case logitScaleInitValue = "logit_scale_init_value"
    }

    public init(
        text: CLIPTextConfiguration = .init(), vision: CLIPVisionConfiguration = .init(), projectionDim: Int = 512,
        logitScaleInitValue: Float = 2.6592
    ) {
        self.text = text
        self.vision = vision
        self.projectionDim = projectionDim
        self.logitScaleInitValue = logitScaleInitValue
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // CLIPConfig.__init__: a `text_config_dict`, completed with CLIPTextConfig's
        // defaults, overrides every key of `text_config` (older hub files carry both).
        text = try c.decodeIfPresent(CLIPTextConfiguration.self, forKey: .textDict)
            ?? c.decodeIfPresent(CLIPTextConfiguration.self, forKey: .text) ?? text
        vision = try c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .visionDict)
            ?? c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .vision) ?? vision
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? projectionDim
        logitScaleInitValue = try c.decodeIfPresent(Float.self, forKey: .logitScaleInitValue) ?? logitScaleInitValue
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(text, forKey: .text)
        try c.encode(vision, forKey: .vision)
        try c.encode(projectionDim, forKey: .projectionDim)
        try c.encode(logitScaleInitValue, forKey: .logitScaleInitValue)
    }

    /// Decodes a Hugging Face config.json; `source` names the file in errors.
    public static func decodeHuggingFace(_ data: Data, source: String) throws -> CLIPConfiguration {
        let configuration: CLIPConfiguration
        do {
            configuration = try JSONDecoder().decode(CLIPConfiguration.self, from: data)
        } catch {
            throw CLIPConfigurationError.malformed(path: source, reason: describe(error))
        }
        try configuration.validate(source: source)
        return configuration
    }

    /// Decodes an open_clip_config.json into the equivalent Hugging Face configuration.
    public static func decodeOpenCLIP(_ data: Data, source: String) throws -> CLIPConfiguration {
        let file: OpenCLIPConfiguration
        do {
            file = try JSONDecoder().decode(OpenCLIPConfiguration.self, from: data)
        } catch {
            throw CLIPConfigurationError.malformed(path: source, reason: describe(error))
        }
        let configuration = try file.clipConfiguration(source: source)
        try configuration.validate(source: source)
        return configuration
    }

    func validate(source: String) throws {
        try text.validate(source: source)
        guard projectionDim > 0 else { throw CLIPConfigurationError.invalid(path: source, reason: "projection_dim must be positive") }
    }
}

/// open_clip's model configuration file (open_clip/factory.py, model.py: CLIPTextCfg, CLIPVisionCfg).
public struct OpenCLIPConfiguration: Codable, Sendable, Equatable {
    public struct TextConfiguration: Codable, Sendable, Equatable {
        public var contextLength: Int?
        public var vocabularySize: Int?
        public var width: Int?
        public var heads: Int?
        public var layers: Int?
        public var mlpRatio: Double?
        public var hfModelName: String?

        enum CodingKeys: String, CodingKey {
            case contextLength = "context_length"
            case vocabularySize = "vocab_size"
            case width, heads, layers
            case mlpRatio = "mlp_ratio"
            case hfModelName = "hf_model_name"
        }
    }

    /// open_clip's CLIPVisionCfg (model.py), the keys a plain ViT uses.
    public struct VisionConfiguration: Codable, Sendable, Equatable {
        public var imageSize: Int?
        public var patchSize: Int?
        public var width: Int?
        public var layers: Int?
        public var headWidth: Int?
        public var mlpRatio: Double?

        enum CodingKeys: String, CodingKey {
            case imageSize = "image_size"
            case patchSize = "patch_size"
            case width, layers
            case headWidth = "head_width"
            case mlpRatio = "mlp_ratio"
        }
    }

    public struct ModelConfiguration: Codable, Sendable, Equatable {
        public var embedDim: Int
        public var quickGELU: Bool?
        public var textConfiguration: TextConfiguration?
        public var visionConfiguration: VisionConfiguration?

        enum CodingKeys: String, CodingKey {
            case embedDim = "embed_dim"
            case quickGELU = "quick_gelu"
            case textConfiguration = "text_cfg"
            case visionConfiguration = "vision_cfg"
        }
    }

    public var model: ModelConfiguration

    enum CodingKeys: String, CodingKey {
        case model = "model_cfg"
    }

    /// The Hugging Face equivalent, with CLIPTextCfg's defaults for omitted keys
    /// (context 77, vocab 49408, width 512, heads 8, layers 12, mlp_ratio 4, GELU unless quick_gelu).
    public func clipConfiguration(source: String) throws -> CLIPConfiguration {
        let t = model.textConfiguration ?? TextConfiguration()
        if let name = t.hfModelName {
            throw CLIPConfigurationError.invalid(
                path: source, reason: "text_cfg.hf_model_name '\(name)' selects a Hugging Face text model, which is not supported; use a CLIP text tower")
        }
        let width = t.width ?? 512
        let text = CLIPTextConfiguration(
            vocabularySize: t.vocabularySize ?? 49408,
            hiddenSize: width,
            intermediateSize: Int((Double(width) * (t.mlpRatio ?? 4.0)).rounded()),
            hiddenLayers: t.layers ?? 12,
            attentionHeads: t.heads ?? 8,
            maxPositions: t.contextLength ?? 77,
            hiddenActivation: (model.quickGELU ?? false) ? .quickGELU : .gelu,
            layerNormEpsilon: 1e-5)
        return CLIPConfiguration(text: text, vision: visionConfiguration(), projectionDim: model.embedDim)
    }

    /// The Hugging Face vision configuration, with CLIPVisionCfg's defaults for omitted keys
    /// (image 224, patch 16, width 768, layers 12, head_width 64, mlp_ratio 4, GELU unless quick_gelu).
    /// Sizes are checked only when the vision tower is built (CLIPVisionConfiguration.validate):
    /// a head_width that does not divide the width gives 0 heads, which fails there.
    /// Other trunks (timm_model_name) show up as unexpected `visual.trunk.` tensors.
    func visionConfiguration() -> CLIPVisionConfiguration {
        let v = model.visionConfiguration ?? VisionConfiguration()
        let width = v.width ?? 768, headWidth = v.headWidth ?? 64
        return CLIPVisionConfiguration(
            hiddenSize: width,
            intermediateSize: Int((Double(width) * (v.mlpRatio ?? 4.0)).rounded()),
            hiddenLayers: v.layers ?? 12,
            attentionHeads: headWidth > 0 && width % headWidth == 0 ? width / headWidth : 0,
            imageSize: v.imageSize ?? 224,
            patchSize: v.patchSize ?? 16,
            channels: 3,
            hiddenActivation: (model.quickGELU ?? false) ? .quickGELU : .gelu,
            layerNormEpsilon: 1e-5)
    }
}

public enum CLIPConfigurationError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case malformed(path: String, reason: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .malformed(path, reason): "\(path) is not a valid CLIP configuration: \(reason); fix or replace the file"
        case let .invalid(path, reason): "\(path): \(reason); fix the configuration"
        }
    }

    public var errorDescription: String? { description }
}

private func describe(_ error: Error) -> String {
    switch error {
    case let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty:
        return "invalid JSON (\(context.debugDescription))"
    case let DecodingError.dataCorrupted(context):
        return "invalid value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))' (\(context.debugDescription))"
    case let DecodingError.keyNotFound(key, context):
        return "missing key '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
    case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
        return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))' (\(context.debugDescription))"
    default:
        return String(describing: error)
    }
}
