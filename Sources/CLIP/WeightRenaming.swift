// Renaming of OpenAI / open_clip state-dict names to Hugging Face CLIPModel names
// (the inverse of transformers' convert_clip_original_pytorch_to_hf.py), as an ordered
// list of rules in the manner of mlx-swift-examples' Load.swift. The loader (CheckpointTensors)
// skips the tensors of a tower the caller did not ask for on purpose.

enum WeightRenaming {
    /// A rename step: `exact` replaces a whole name, `prefix` a leading segment, `segment` an inner one.
    enum Rule {
        case exact(String, String)
        case prefix(String, String)
        case segment(String, String)

        func apply(_ name: String) -> String {
            switch self {
            case let .exact(from, to):
                return name == from ? to : name
            case let .prefix(from, to):
                return name.hasPrefix(from) ? to + name.dropFirst(from.count) : name
            case let .segment(from, to):
                return name.replacingOccurrences(of: from, with: to)
            }
        }
    }

    /// open_clip / OpenAI names -> Hugging Face names, applied in order.
    static let openCLIPRules: [Rule] = [
        .exact("token_embedding.weight", "text_model.embeddings.token_embedding.weight"),
        .exact("positional_embedding", "text_model.embeddings.position_embedding.weight"),
        .exact("text_projection", "text_projection.weight"),
        .prefix("ln_final.", "text_model.final_layer_norm."),
        .prefix("transformer.resblocks.", "text_model.encoder.layers."),
        // The image tower (clip/model.py VisionTransformer; HF CLIPVisionTransformer, whose
        // first LayerNorm is spelt `pre_layrnorm`).
        .exact("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"),
        .exact("visual.class_embedding", "vision_model.embeddings.class_embedding"),
        .exact("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"),
        .exact("visual.proj", "visual_projection.weight"),
        .prefix("visual.ln_pre.", "vision_model.pre_layrnorm."),
        .prefix("visual.ln_post.", "vision_model.post_layernorm."),
        .prefix("visual.transformer.resblocks.", "vision_model.encoder.layers."),
        // Inside either tower's blocks.
        .segment(".attn.out_proj.", ".self_attn.out_proj."),
        .segment(".attn.in_proj_", ".self_attn.in_proj_"),
        .segment(".ln_1.", ".layer_norm1."),
        .segment(".ln_2.", ".layer_norm2."),
        .segment(".mlp.c_fc.", ".mlp.fc1."),
        .segment(".mlp.c_proj.", ".mlp.fc2."),
    ]

    /// Entries that are not weights: position ids (a buffer older transformers versions saved)
    /// and the sizes open_clip stores beside the weights.
    static let ignoredHuggingFacePrefixes = ["text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"]
    static let ignoredOpenCLIPPrefixes = ["input_resolution", "context_length", "vocab_size"]

    /// Whether a Hugging Face name could belong to the text tower at all; the exact set is
    /// checked against the configuration when the weights are taken.
    static func isTextName(_ name: String) -> Bool {
        name.hasPrefix("text_model.") || name == "text_projection.weight" || name == "logit_scale"
    }

    /// Whether a Hugging Face name belongs to the image tower.
    static func isVisionName(_ name: String) -> Bool {
        name.hasPrefix("vision_model.") || name.hasPrefix("visual_projection.")
    }

    static func isIgnored(_ name: String, prefixes: [String]) -> Bool {
        prefixes.contains { name.hasPrefix($0) }
    }

    static func huggingFaceName(openCLIP name: String) -> String {
        openCLIPRules.reduce(name) { $1.apply($0) }
    }

    /// Tensors whose layout differs between the two formats, after renaming:
    /// open_clip's fused `in_proj` becomes q/k/v (rows stacked q;k;v, nn.MultiheadAttention),
    /// and its `text_projection` and `visual.proj` [width, proj] are applied as x @ P, the
    /// transpose of HF's Linear.
    static func convertOpenCLIPTensor(name: String, shape: [Int], values: [Float]) -> [(String, [Int], [Float])] {
        if let range = name.range(of: ".self_attn.in_proj_"), shape.first.map({ $0 % 3 == 0 }) == true {
            let stem = String(name[..<range.lowerBound]) + ".self_attn."
            let kind = name.hasSuffix("weight") ? "weight" : "bias"
            let rows = shape[0] / 3
            let rowSize = shape.dropFirst().reduce(1, *)
            return ["q", "k", "v"].enumerated().map { i, letter in
                let part = Array(values[(i * rows * rowSize)..<((i + 1) * rows * rowSize)])
                return (stem + "\(letter)_proj.\(kind)", [rows] + shape.dropFirst(), part)
            }
        }
        if name == "text_projection.weight" || name == "visual_projection.weight", shape.count == 2 {
            let (r, c) = (shape[0], shape[1])
            var transposed = [Float](repeating: 0, count: values.count)
            for i in 0..<r { for j in 0..<c { transposed[j * r + i] = values[i * c + j] } }
            return [(name, [c, r], transposed)]
        }
        return [(name, shape, values)]
    }
}
