// The image tower against PyTorch (Tools/make_vision_fixture.py: transformers'
// CLIPModel.get_image_features in float64, open_clip's encode_image for the open_clip file) on the
// tiny checkpoints, features to 1e-4 relative to their largest value with the worst element
// printed; batching; configuration decoding; strict loading errors naming the tensor.

import Foundation
import Formats
import Kernels
import Testing

@testable import CLIP

private let visionReference = fixturesDirectory.appendingPathComponent("vision/reference.safetensors")

@Test(arguments: ["clip-tiny", "clip-tiny-f16", "clip-tiny-bf16", "clip-tiny-gelu", "clip-tiny-openclip"])
func visionTowerMatchesPyTorch(fixture: String) throws {
    let tower = try VisionTower(directory: fixturesDirectory.appendingPathComponent(fixture))
    let reference = try SafetensorsFile(url: visionReference)
    let shape = try reference.info("pixels").shape
    #expect(shape == [4, 3, tower.imageSize, tower.imageSize])
    let pixels = try reference.floats("pixels"), expected = try reference.floats("image_embeds.\(fixture)")

    let features = try tower.encode(pixels: pixels, count: shape[0])
    expectRelativeClose(features, expected, tolerance: 1e-4, "\(fixture) image_embeds")

    let normalized = try tower.encode(pixels: pixels, count: shape[0], normalized: true)
    let expectedNormalized = l2Normalize(expected, rows: shape[0], columns: tower.projectionDim).out
    expectRelativeClose(normalized, expectedNormalized, tolerance: 1e-4, "\(fixture) normalised image_embeds")
}

@Test func visionTowerBatchEqualsSingleImages() throws {
    let tower = try VisionTower(directory: fixturesDirectory.appendingPathComponent("clip-tiny"))
    let imageFloats = 3 * tower.imageSize * tower.imageSize, d = tower.projectionDim
    // More images than one chunk holds, so the chunk boundary is crossed too.
    let count = tower.imagesPerChunk + 3
    var rng = SplitMix64(seed: 11)
    let pixels = (0..<(count * imageFloats)).map { _ in rng.nextGaussian() }
    let batch = try tower.encode(pixels: pixels, count: count)
    var single: [Float] = []
    for i in 0..<count {
        single += try tower.encode(pixels: Array(pixels[(i * imageFloats)..<((i + 1) * imageFloats)]), count: 1)
    }
    #expect(batch.count == count * d)
    expectRelativeClose(batch, single, tolerance: 1e-6, "batch of \(count) against single images")
    // Different images give different features (the test could not pass with a constant output).
    #expect(batch[0..<d] != batch[d..<(2 * d)])
    #expect(try tower.encode(pixels: [], count: 0).isEmpty)
}

@Test func visionTowerRejectsWrongPixelCounts() throws {
    let tower = try VisionTower(directory: fixturesDirectory.appendingPathComponent("clip-tiny"))
    #expect(throws: VisionTowerError.pixelCount(count: 100, images: 1, imageSize: 32, expected: 3072)) {
        try tower.encode(pixels: [Float](repeating: 0, count: 100), count: 1)
    }
    #expect(throws: VisionTowerError.negativeImageCount(-1)) { try tower.encode(pixels: [], count: -1) }
    print(VisionTowerError.pixelCount(count: 100, images: 1, imageSize: 32, expected: 3072))
}

@Test func visionConfigurationDecoding() throws {
    // transformers' CLIPVisionConfig defaults (ViT-B/32) for missing keys.
    let defaults = try CLIPConfiguration.decodeHuggingFace(Data(#"{"vision_config": {}}"#.utf8), source: "config.json").vision
    #expect(defaults == CLIPVisionConfiguration(hiddenSize: 768, intermediateSize: 3072, hiddenLayers: 12, attentionHeads: 12,
                                                imageSize: 224, patchSize: 32, hiddenActivation: .quickGELU))
    #expect(defaults.positionCount == 50)

    // open_clip's vision_cfg is the same tower as the HF config it was converted from.
    let hf = try CLIPCheckpointFiles(directory: fixturesDirectory.appendingPathComponent("clip-tiny")).configuration
    let oc = try CLIPCheckpointFiles(directory: fixturesDirectory.appendingPathComponent("clip-tiny-openclip")).configuration
    #expect(oc.vision == hf.vision)
    #expect(hf.vision.positionCount == 17 && hf.vision.headSize == 8)

    // open_clip's CLIPVisionCfg defaults: ViT-B/16 widths, GELU unless quick_gelu.
    let ocDefaults = try CLIPConfiguration.decodeOpenCLIP(Data(#"{"model_cfg": {"embed_dim": 512}}"#.utf8), source: "open_clip_config.json")
    #expect(ocDefaults.vision == CLIPVisionConfiguration(hiddenSize: 768, intermediateSize: 3072, hiddenLayers: 12, attentionHeads: 12,
                                                         imageSize: 224, patchSize: 16, hiddenActivation: .gelu))
}

/// Loading the image tower of `directory` fails with an error `matches` accepts.
private func expectVisionLoadError(_ directory: URL, _ matches: (Error) -> Bool, _ comment: Comment) {
    do {
        _ = try VisionTower(directory: directory)
        Issue.record("loading succeeded despite \(comment)")
    } catch {
        #expect(matches(error), "\(comment): got \(error)")
        print("\(comment): \(error)")
    }
}

@Test(arguments: ["clip-tiny", "clip-tiny-openclip"])
func visionLoadingIsStrict(fixture: String) throws {
    let isOpenCLIP = fixture.hasSuffix("openclip")
    let weights = isOpenCLIP ? "open_clip_model.safetensors" : "model.safetensors"
    func named(_ hf: String, _ oc: String) -> String { isOpenCLIP ? oc : hf }
    func edited(_ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws -> URL {
        let directory = try scratchCopy(of: fixture)
        try rewriteWeights(directory.appendingPathComponent(weights), edit)
        return directory
    }

    let missing = try edited { $0.removeAll { $0.name == named("vision_model.encoder.layers.1.mlp.fc2.bias", "visual.transformer.resblocks.1.mlp.c_proj.bias") } }
    defer { try? FileManager.default.removeItem(at: missing) }
    expectVisionLoadError(missing, {
        if case let CLIPCheckpointError.missingTensor(path, tensor) = $0 {
            tensor == "vision_model.encoder.layers.1.mlp.fc2.bias" && path.hasSuffix(weights)
        } else { false }
    }, "missing vision tensor")

    let extraName = named("vision_model.extra.weight", "visual.extra.weight")
    let unexpected = try edited { $0.append((name: extraName, shape: [2], values: [1, 2])) }
    defer { try? FileManager.default.removeItem(at: unexpected) }
    expectVisionLoadError(unexpected, {
        if case let CLIPCheckpointError.unexpectedTensor(_, tensor) = $0 { tensor == extraName } else { false }
    }, "unexpected vision tensor")
    // The text tower does not care about an extra vision tensor, unless it loads the image tower too.
    _ = try CLIPCheckpoint(directory: unexpected)
    #expect(throws: CLIPCheckpointError.unexpectedTensor(path: unexpected.appendingPathComponent(weights).path, tensor: extraName)) {
        try CLIPCheckpoint(directory: unexpected, includingVision: true)
    }

    let normName = named("vision_model.post_layernorm.weight", "visual.ln_post.weight")
    let wrongShape = try edited { tensors in
        let i = tensors.firstIndex { $0.name == normName }!
        tensors[i] = (normName, [31], Array(tensors[i].values.prefix(31)))
    }
    defer { try? FileManager.default.removeItem(at: wrongShape) }
    expectVisionLoadError(wrongShape, {
        if case let CLIPCheckpointError.wrongShape(_, tensor, shape, expected) = $0 {
            tensor.contains(normName) && tensor.contains("vision_model.post_layernorm.weight") && shape == [31] && expected == [32]
        } else { false }
    }, "wrongly shaped vision tensor")

    // The projection: [proj, W] in HF, [W, proj] in open_clip; a square-free wrong size either way.
    let projectionName = named("visual_projection.weight", "visual.proj")
    let wrongProjection = try edited { tensors in
        let i = tensors.firstIndex { $0.name == projectionName }!
        tensors[i] = (projectionName, [32, 32], [Float](repeating: 0, count: 32 * 32))
    }
    defer { try? FileManager.default.removeItem(at: wrongProjection) }
    expectVisionLoadError(wrongProjection, {
        if case let CLIPCheckpointError.wrongShape(_, tensor, shape, expected) = $0 {
            tensor.contains(projectionName) && shape == [32, 32] && expected == [24, 32]
        } else { false }
    }, "wrongly shaped projection")

    // A text-only checkpoint loads as a text tower but not as an image tower.
    let textOnly = try edited { $0.removeAll { $0.name.hasPrefix(named("vision_model.", "visual.")) || $0.name.hasPrefix("visual_projection.") } }
    defer { try? FileManager.default.removeItem(at: textOnly) }
    _ = try CLIPCheckpoint(directory: textOnly)
    #expect(try CLIPCheckpoint(directory: textOnly, includingVision: true).vision == nil)
    expectVisionLoadError(textOnly, {
        if case let CLIPCheckpointError.missingTensor(_, tensor) = $0 { tensor == "vision_model.embeddings.patch_embedding.weight" } else { false }
    }, "text-only checkpoint")
}

@Test func visionConfigurationErrorsNameTheFile() throws {
    let directory = try scratchCopy(of: "clip-tiny")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("config.json")
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    var vision = json["vision_config"] as! [String: Any]
    vision["patch_size"] = 5
    json["vision_config"] = vision
    try JSONSerialization.data(withJSONObject: json).write(to: url)
    // The text tower does not use the vision sizes.
    _ = try CLIPCheckpoint(directory: directory)
    expectVisionLoadError(directory, {
        if case let CLIPConfigurationError.invalid(path, reason) = $0 {
            path == url.path && reason.contains("image_size 32") && reason.contains("patch_size 5")
        } else { false }
    }, "image size not a multiple of the patch size")
}

@Test func randomVisionCheckpointRoundTripsThroughHuggingFaceFiles() throws {
    var configuration = CLIPConfiguration()
    configuration.vision = CLIPVisionConfiguration(hiddenSize: 16, intermediateSize: 40, hiddenLayers: 2, attentionHeads: 2,
                                                   imageSize: 12, patchSize: 4, hiddenActivation: .gelu)
    configuration.projectionDim = 8
    let checkpoint = CLIPVisionCheckpoint.random(configuration: configuration, seed: 5)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vision-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    try checkpoint.writeHuggingFace(to: directory)
    let loaded = try CLIPVisionCheckpoint(directory: directory)
    #expect(loaded.configuration.vision == configuration.vision)
    let (a, b) = (loaded.huggingFaceTensors(), checkpoint.huggingFaceTensors())
    #expect(a.map(\.name) == b.map(\.name))
    for (x, y) in zip(a, b) { #expect(x.shape == y.shape && x.values == y.values, "\(x.name) changed on the way") }
    var rng = SplitMix64(seed: 3)
    let pixels = (0..<(2 * 3 * 12 * 12)).map { _ in rng.nextGaussian() }
    #expect(try VisionTower(loaded).encode(pixels: pixels, count: 2) == VisionTower(checkpoint).encode(pixels: pixels, count: 2))
}

/// Both towers from one pass over the weights equal each tower loaded on its own, and give the same features.
@Test(arguments: ["clip-tiny", "clip-tiny-openclip"])
func bothTowersLoadInOnePass(fixture: String) throws {
    let directory = fixturesDirectory.appendingPathComponent(fixture)
    let both = try CLIPCheckpoint(directory: directory, includingVision: true)
    let text = try CLIPCheckpoint(directory: directory), vision = try CLIPVisionCheckpoint(directory: directory)
    #expect(text.vision == nil)
    let visionPart = try #require(both.visionCheckpoint)
    for (a, b) in zip(visionPart.huggingFaceTensors(), vision.huggingFaceTensors()) {
        #expect(a.name == b.name && a.shape == b.shape && a.values == b.values, "\(a.name) differs")
    }
    let exported = both.huggingFaceTensors()
    #expect(exported.count == text.huggingFaceTensors().count + vision.huggingFaceTensors().count)
    for (a, b) in zip(exported, text.huggingFaceTensors() + vision.huggingFaceTensors()) {
        #expect(a.name == b.name && a.shape == b.shape && a.values == b.values, "\(a.name) differs")
    }
    var rng = SplitMix64(seed: 9)
    let pixels = (0..<(2 * 3 * vision.configuration.vision.imageSize * vision.configuration.vision.imageSize)).map { _ in rng.nextGaussian() }
    #expect(try VisionTower(visionPart).encode(pixels: pixels, count: 2) == VisionTower(vision).encode(pixels: pixels, count: 2))
}
