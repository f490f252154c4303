// The prompted image tower (VisionPrompts.swift: MaPLe's shallow and deep image prompts) against
// PyTorch (Tools/make_maple_fixture.py: transformers' CLIPModel modules for clip-tiny, open_clip's
// for clip-tiny-openclip, float64 rounded to F32): the features of forward(pixels:count:prompts:)
// and encode(pixels:count:prompts:) to 1e-4, and backward(_:dFeatures:) for
// L = sum(features * G) against autograd's gradients of the shallow and deep prompts to 1e-3,
// each relative to the largest entry of the expected tensor.

import Foundation
import Formats
import Kernels
import Testing

@testable import CLIP

private let mapleReference = fixturesDirectory.appendingPathComponent("maple-loss/reference.safetensors")

@Test(arguments: ["clip-tiny", "clip-tiny-openclip"])
func visionPromptsMatchPyTorch(fixture: String) throws {
    let tower = try VisionTower(directory: fixturesDirectory.appendingPathComponent(fixture))
    let file = try SafetensorsFile(url: mapleReference)
    // Results carry the checkpoint's prefix only when the two checkpoints' F32 results differ.
    func result(_ name: String) throws -> [Float] {
        let prefixed = (fixture == "clip-tiny" ? "hf." : "openclip.") + name
        return try file.floats(file.contains(prefixed) ? prefixed : name)
    }
    let shape = try file.info("pixels").shape
    #expect(shape == [4, 3, tower.imageSize, tower.imageSize])
    let (count, nctx) = (shape[0], try file.info("vision.shallow_prompts").shape[0])
    let pixels = try file.floats("pixels")
    let prompts = VisionPrompts(count: nctx, shallow: try file.floats("vision.shallow_prompts"),
                                deep: [try file.floats("vision.deep_prompts.1")])
    let expected = try result("vision.image_features")

    let state = try tower.forward(pixels: pixels, count: count, prompts: prompts)
    expectRelativeClose(state.features, expected, tolerance: 1e-4, "\(fixture) prompted image features (forward)")
    let encoded = try tower.encode(pixels: pixels, count: count, prompts: prompts)
    expectRelativeClose(encoded, expected, tolerance: 1e-4, "\(fixture) prompted image features (encode)")
    let clip = try tower.encode(pixels: pixels, count: count)
    expectRelativeClose(clip, try result("vision.image_features_clip"), tolerance: 1e-4, "\(fixture) unprompted image features")

    let gradients = try tower.backward(state, dFeatures: try file.floats("vision.G"))
    expectRelativeClose(gradients.shallow, try result("vision.grad_shallow"), tolerance: 1e-3, "\(fixture) d/d shallow prompts")
    #expect(gradients.deep.count == 1)
    expectRelativeClose(gradients.deep.first ?? [], try result("vision.grad_deep.1"), tolerance: 1e-3, "\(fixture) d/d deep prompts")
}
