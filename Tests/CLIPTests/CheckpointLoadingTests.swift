// Configuration decoding and strict checkpoint loading: every user-caused problem is a typed
// error naming the file and tensor.

import Foundation
import Formats
import Testing

@testable import CLIP

/// A scratch copy of a fixture directory, removed by the caller.
func scratchCopy(of fixture: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: fixturesDirectory.appendingPathComponent(fixture), to: url)
    return url
}

/// Rewrites a safetensors file (as F32) after `edit` changes its tensors.
func rewriteWeights(_ url: URL, _ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws {
    let file = try SafetensorsFile(url: url)
    var tensors = try file.tensorNames.map { (name: $0, shape: try file.info($0).shape, values: try file.floats($0)) }
    edit(&tensors)
    var writer = SafetensorsWriter()
    for t in tensors { try writer.add(t.name, floats: t.values, shape: t.shape) }
    try writer.write(to: url)
}

func expectLoadError(_ directory: URL, _ matches: (Error) -> Bool, _ comment: Comment) {
    do {
        _ = try CLIPCheckpoint(directory: directory)
        Issue.record("loading succeeded despite \(comment)")
    } catch {
        #expect(matches(error), "\(comment): got \(error)")
        print("\(comment): \(error)")
    }
}

@Test(arguments: ["clip-tiny", "clip-tiny-openclip"])
func strictLoadingNamesTheTensor(fixture: String) throws {
    let isOpenCLIP = fixture.hasSuffix("openclip")
    let weights = isOpenCLIP ? "open_clip_model.safetensors" : "model.safetensors"
    let missingName = isOpenCLIP ? "transformer.resblocks.1.mlp.c_proj.bias" : "text_model.encoder.layers.1.mlp.fc2.bias"
    let expectedMissing = "text_model.encoder.layers.1.mlp.fc2.bias"
    let normName = isOpenCLIP ? "ln_final.weight" : "text_model.final_layer_norm.weight"

    let missing = try scratchCopy(of: fixture)
    defer { try? FileManager.default.removeItem(at: missing) }
    try rewriteWeights(missing.appendingPathComponent(weights)) { $0.removeAll { $0.name == missingName } }
    expectLoadError(missing, {
        if case let CLIPCheckpointError.missingTensor(path, tensor) = $0 { tensor == expectedMissing && path.hasSuffix(weights) } else { false }
    }, "missing tensor")

    let unexpected = try scratchCopy(of: fixture)
    defer { try? FileManager.default.removeItem(at: unexpected) }
    try rewriteWeights(unexpected.appendingPathComponent(weights)) { $0.append((name: "text_model.extra.weight", shape: [2], values: [1, 2])) }
    expectLoadError(unexpected, {
        if case let CLIPCheckpointError.unexpectedTensor(_, tensor) = $0 { tensor == "text_model.extra.weight" } else { false }
    }, "unexpected tensor")

    let wrongShape = try scratchCopy(of: fixture)
    defer { try? FileManager.default.removeItem(at: wrongShape) }
    try rewriteWeights(wrongShape.appendingPathComponent(weights)) { tensors in
        let i = tensors.firstIndex { $0.name == normName }!
        tensors[i] = (normName, [31], Array(tensors[i].values.prefix(31)))
    }
    expectLoadError(wrongShape, {
        if case let CLIPCheckpointError.wrongShape(_, tensor, shape, expected) = $0 {
            tensor.contains(normName) && tensor.contains("text_model.final_layer_norm.weight") && shape == [31] && expected == [32]
        } else { false }
    }, "wrong shape")

    let truncated = try scratchCopy(of: fixture)
    defer { try? FileManager.default.removeItem(at: truncated) }
    let url = truncated.appendingPathComponent(weights)
    let bytes = try Data(contentsOf: url)
    try bytes.prefix(bytes.count - 100).write(to: url)
    expectLoadError(truncated, {
        if case let SafetensorsError.truncated(path, _, _, _) = $0 { path.hasSuffix(weights) } else { false }
    }, "truncated safetensors")
}

@Test func missingOrMalformedDirectoryAndConfiguration() throws {
    expectLoadError(URL(fileURLWithPath: "/nonexistent/clip"), {
        if case CLIPCheckpointError.notADirectory("/nonexistent/clip") = $0 { true } else { false }
    }, "missing directory")

    let noConfig = try scratchCopy(of: "clip-tiny")
    defer { try? FileManager.default.removeItem(at: noConfig) }
    try FileManager.default.removeItem(at: noConfig.appendingPathComponent("config.json"))
    expectLoadError(noConfig, {
        if case CLIPCheckpointError.missingConfiguration = $0 { true } else { false }
    }, "missing config.json")

    let malformed = try scratchCopy(of: "clip-tiny")
    defer { try? FileManager.default.removeItem(at: malformed) }
    try Data("{ \"text_config\": ".utf8).write(to: malformed.appendingPathComponent("config.json"))
    expectLoadError(malformed, {
        if case let CLIPConfigurationError.malformed(path, _) = $0 { path.hasSuffix("config.json") } else { false }
    }, "malformed config.json")

    let badValue = try scratchCopy(of: "clip-tiny")
    defer { try? FileManager.default.removeItem(at: badValue) }
    try Data(#"{"text_config": {"hidden_act": "relu"}}"#.utf8).write(to: badValue.appendingPathComponent("config.json"))
    expectLoadError(badValue, {
        if case let CLIPConfigurationError.malformed(_, reason) = $0 { reason.contains("hidden_act") } else { false }
    }, "unknown activation")

    let noWeights = try scratchCopy(of: "clip-tiny")
    defer { try? FileManager.default.removeItem(at: noWeights) }
    try FileManager.default.removeItem(at: noWeights.appendingPathComponent("model.safetensors"))
    expectLoadError(noWeights, {
        if case let CLIPCheckpointError.missingWeights(path) = $0 { path.hasSuffix("model.safetensors") } else { false }
    }, "missing model.safetensors")
}

/// Shaped like openai/clip-vit-base-patch16's config.json: `text_config_dict` overrides
/// `text_config`, and keys with transformers' defaults are omitted.
let hubStyleBase16 = """
{
  "architectures": ["CLIPModel"],
  "initializer_factor": 1.0,
  "logit_scale_init_value": 2.6592,
  "model_type": "clip",
  "projection_dim": 512,
  "text_config": {"hidden_act": "quick_gelu", "max_position_embeddings": 77, "vocab_size": 49408, "hidden_size": 999},
  "text_config_dict": {"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8, "num_hidden_layers": 12, "projection_dim": 512},
  "vision_config": {"hidden_size": 1},
  "vision_config_dict": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12, "patch_size": 16, "projection_dim": 512}
}
"""

@Test func hubConfigurationsDecodeWithTransformersDefaults() throws {
    let base = try CLIPConfiguration.decodeHuggingFace(Data(hubStyleBase16.utf8), source: "config.json")
    #expect(base.text == CLIPTextConfiguration())
    #expect(base.text.headSize == 64)
    #expect(base.vision.patchSize == 16 && base.vision.hiddenSize == 768 && base.vision.imageSize == 224)
    #expect(base.projectionDim == 512)

    let empty = try CLIPConfiguration.decodeHuggingFace(Data("{}".utf8), source: "config.json")
    #expect(empty.text == CLIPTextConfiguration(vocabularySize: 49408, hiddenSize: 512, intermediateSize: 2048, hiddenLayers: 12,
                                                attentionHeads: 8, maxPositions: 77, hiddenActivation: .quickGELU, layerNormEpsilon: 1e-5))
    #expect(empty.projectionDim == 512)

    // ViT-L/14's text tower: 768 wide, 12 heads, projection 768.
    let large = try CLIPConfiguration.decodeHuggingFace(Data("""
        {"projection_dim": 768, "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
         "num_hidden_layers": 12, "hidden_act": "gelu"}}
        """.utf8), source: "config.json")
    #expect(large.text.hiddenSize == 768 && large.text.attentionHeads == 12 && large.text.headSize == 64)
    #expect(large.text.hiddenActivation == .gelu && large.projectionDim == 768)

    #expect(throws: CLIPConfigurationError.self) {
        try CLIPConfiguration.decodeHuggingFace(Data(#"{"text_config": {"hidden_size": 500}}"#.utf8), source: "config.json")
    }

    // Encoding and decoding again keeps every value.
    let encoded = try JSONEncoder().encode(large)
    #expect(try CLIPConfiguration.decodeHuggingFace(encoded, source: "config.json") == large)
}

@Test func largeTextTowerRunsByConfigurationAlone() throws {
    // ViT-L/14's width and heads with a small vocabulary and one block, to stay quick.
    let text = CLIPTextConfiguration(vocabularySize: 64, hiddenSize: 768, intermediateSize: 3072, hiddenLayers: 1, attentionHeads: 12)
    let checkpoint = CLIPCheckpoint.random(configuration: CLIPConfiguration(text: text, projectionDim: 768), seed: 1)
    let tower = TextTower(checkpoint)
    let features = try tower.encode(tokenIDs: [[1, 2, 3, 63], [1, 2, 63]], normalized: true)
    #expect(features.count == 2 * 768)
    let length = features[0..<768].reduce(0) { $0 + $1 * $1 }
    #expect(abs(length - 1) < 1e-5)
    #expect(checkpoint.tokenEmbedding(row: 5) == Array(checkpoint.text.tokenEmbedding[(5 * 768)..<(6 * 768)]))
}

@Test func openCLIPConfigurationDecodes() throws {
    let json = """
        {"model_cfg": {"embed_dim": 512, "quick_gelu": true,
          "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
         "preprocess_cfg": {}}
        """
    let configuration = try CLIPConfiguration.decodeOpenCLIP(Data(json.utf8), source: "open_clip_config.json")
    #expect(configuration.text == CLIPTextConfiguration())
    #expect(configuration.projectionDim == 512)
    let gelu = try CLIPConfiguration.decodeOpenCLIP(Data(#"{"model_cfg": {"embed_dim": 768, "text_cfg": {"width": 768, "heads": 12}}}"#.utf8),
                                                    source: "open_clip_config.json")
    #expect(gelu.text.hiddenActivation == .gelu && gelu.text.intermediateSize == 3072 && gelu.projectionDim == 768)
    #expect(throws: CLIPConfigurationError.self) {
        try CLIPConfiguration.decodeOpenCLIP(Data(#"{"model_cfg": {"text_cfg": {}}}"#.utf8), source: "open_clip_config.json")
    }
    #expect(throws: CLIPConfigurationError.self) {
        try CLIPConfiguration.decodeOpenCLIP(Data(#"{"model_cfg": {"embed_dim": 512, "text_cfg": {"hf_model_name": "roberta-base"}}}"#.utf8),
                                             source: "open_clip_config.json")
    }
}

@Test func weightRenamingMapsOpenCLIPNames() {
    let cases = [
        ("token_embedding.weight", "text_model.embeddings.token_embedding.weight"),
        ("positional_embedding", "text_model.embeddings.position_embedding.weight"),
        ("transformer.resblocks.11.attn.out_proj.bias", "text_model.encoder.layers.11.self_attn.out_proj.bias"),
        ("transformer.resblocks.0.ln_2.weight", "text_model.encoder.layers.0.layer_norm2.weight"),
        ("transformer.resblocks.3.mlp.c_fc.weight", "text_model.encoder.layers.3.mlp.fc1.weight"),
        ("transformer.resblocks.3.mlp.c_proj.bias", "text_model.encoder.layers.3.mlp.fc2.bias"),
        ("ln_final.bias", "text_model.final_layer_norm.bias"),
        ("text_projection", "text_projection.weight"),
        ("logit_scale", "logit_scale"),
    ]
    for (from, to) in cases { #expect(WeightRenaming.huggingFaceName(openCLIP: from) == to) }
    let split = WeightRenaming.convertOpenCLIPTensor(
        name: "text_model.encoder.layers.0.self_attn.in_proj_weight", shape: [6, 1], values: [1, 2, 3, 4, 5, 6])
    #expect(split.map(\.0) == ["q", "k", "v"].map { "text_model.encoder.layers.0.self_attn.\($0)_proj.weight" })
    #expect(split.map(\.2) == [[1, 2], [3, 4], [5, 6]])
    let projection = WeightRenaming.convertOpenCLIPTensor(name: "text_projection.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
    #expect(projection[0].1 == [3, 2] && projection[0].2 == [1, 4, 2, 5, 3, 6])
}

@Test func huggingFaceExportLoadsBack() throws {
    let checkpoint = tinyRandomCheckpoint(activation: .gelu)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    try checkpoint.writeHuggingFace(to: directory)
    let loaded = try CLIPCheckpoint(directory: directory)
    #expect(loaded.configuration == checkpoint.configuration)
    for (a, b) in zip(loaded.huggingFaceTensors(), checkpoint.huggingFaceTensors()) {
        #expect(a.name == b.name && a.shape == b.shape && a.values == b.values)
    }
}
