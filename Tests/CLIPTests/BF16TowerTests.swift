// Both towers in bf16 (linear layers in bf16 with fp32 accumulation, all else fp32) against the
// PyTorch references of the fixtures (computed in fp32/fp64) and against the fp32 towers:
//   features: 1e-2 relative to their largest value (bf16 keeps 8 bits: 2^-9 = 2e-3 per rounded
//   input, a few layers compound it);
//   gradients of the trainable rows and of the prompts: 2e-2 relative (the backward pass rounds
//   the upstream gradient to bf16 again in every linear layer).
// Each test also checks that bf16 was used: the bf16 result must differ from fp32's.

import Foundation
import Formats
import Kernels
import Testing

@testable import CLIP

@Suite(.enabled(if: BF16Support.isAvailable, "needs a CPU with AVX512-BF16 or AMX"))
struct BF16TowerTests {
    @Test(arguments: ["clip-tiny", "clip-tiny-gelu", "clip-tiny-openclip"])
    func textTowerInBF16MatchesPyTorch(fixture: String) throws {
        let directory = fixturesDirectory.appendingPathComponent(fixture)
        let checkpoint = try CLIPCheckpoint(directory: directory)
        let tower = TextTower(checkpoint, precision: .bf16), fp32 = TextTower(checkpoint)
        #expect(tower.precision == .bf16)
        let reference = try Reference(directory: directory, width: checkpoint.configuration.text.hiddenSize)

        let features = try tower.encode(tokenIDs: reference.ids)
        expectRelativeClose(features, reference.textEmbeds, tolerance: 1e-2, "\(fixture) bf16 text_embeds")
        let differs = expectRelativeClose(features, try fp32.encode(tokenIDs: reference.ids), tolerance: 1e-2, "\(fixture) bf16 vs fp32")
        #expect(differs > 1e-6, "bf16 features equal fp32's: the bf16 path did not run")

        let (prompts, vectors, owners) = reference.splicedPrompts { reference.trainable[$0][$1] }
        let state = try tower.forward(prompts, vectors: vectors)
        expectRelativeClose(state.features, reference.splicedTextEmbeds, tolerance: 1e-2, "\(fixture) bf16 spliced_text_embeds")
        let gradient = try tower.backward(state, dNormalizedFeatures: reference.lossWeights)
        let expected = owners.flatMap { reference.gradInputsEmbeds[$0.prompt][$0.position] }
        expectRelativeClose(gradient, expected, tolerance: 2e-2, "\(fixture) bf16 grad of trainable rows")
    }

    /// ViT-B/16's text width and heads (512, 8) with two random layers, so that the products
    /// have the real inner length: bf16 vs fp32 on the same weights.
    @Test func textTowerInBF16AtTheRealWidth() throws {
        let text = CLIPTextConfiguration(
            vocabularySize: 64, hiddenSize: 512, intermediateSize: 2048, hiddenLayers: 2, attentionHeads: 8,
            maxPositions: 77, hiddenActivation: .quickGELU, layerNormEpsilon: 1e-5)
        let checkpoint = CLIPCheckpoint.random(configuration: CLIPConfiguration(text: text, projectionDim: 512), seed: 5)
        let (tower, fp32) = (TextTower(checkpoint, precision: .bf16), TextTower(checkpoint))
        var rng = SplitMix64(seed: 9)
        var prompts: [PromptRows] = []
        for p in 0..<6 {
            let words: [PromptRow] = (0..<(5 + 3 * p)).map { _ in PromptRow.token(2 + Int(rng.next() % 60)) }
            prompts.append(PromptRows([PromptRow.token(1)] + words + [PromptRow.vector(index: p), PromptRow.token(63)]))
        }
        let vectors = (0..<(6 * 512)).map { _ in 0.02 * rng.nextGaussian() }
        let weights = (0..<(6 * 512)).map { _ in rng.nextGaussian() }
        let (state, exact) = (try tower.forward(prompts, vectors: vectors), try fp32.forward(prompts, vectors: vectors))
        let error = expectRelativeClose(state.features, exact.features, tolerance: 1e-2, "width 512 bf16 vs fp32 features")
        #expect(error > 1e-6)
        let gradient = try tower.backward(state, dNormalizedFeatures: weights)
        let exactGradient = try fp32.backward(exact, dNormalizedFeatures: weights)
        expectRelativeClose(gradient, exactGradient, tolerance: 2e-2, "width 512 bf16 vs fp32 gradient")
    }

    @Test(arguments: ["clip-tiny", "clip-tiny-gelu", "clip-tiny-openclip"])
    func visionTowerInBF16MatchesPyTorch(fixture: String) throws {
        let directory = fixturesDirectory.appendingPathComponent(fixture)
        let (tower, fp32) = (try VisionTower(directory: directory, precision: .bf16), try VisionTower(directory: directory))
        #expect(tower.precision == .bf16)
        let reference = try SafetensorsFile(url: fixturesDirectory.appendingPathComponent("vision/reference.safetensors"))
        let count = try reference.info("pixels").shape[0]
        let pixels = try reference.floats("pixels"), expected = try reference.floats("image_embeds.\(fixture)")
        let features = try tower.encode(pixels: pixels, count: count)
        expectRelativeClose(features, expected, tolerance: 1e-2, "\(fixture) bf16 image_embeds")
        let differs = expectRelativeClose(features, try fp32.encode(pixels: pixels, count: count), tolerance: 1e-2, "\(fixture) bf16 vs fp32")
        #expect(differs > 1e-6, "bf16 features equal fp32's: the bf16 path did not run")
    }

    /// MaPLe's image side: prompted forward and the prompts' gradients, bf16 vs fp32.
    @Test func visionPromptGradientsInBF16() throws {
        let directory = fixturesDirectory.appendingPathComponent("clip-tiny")
        let (tower, fp32) = (try VisionTower(directory: directory, precision: .bf16), try VisionTower(directory: directory))
        let w = tower.configuration.vision.hiddenSize, count = 3, tokens = 2
        var rng = SplitMix64(seed: 21)
        let prompts = VisionPrompts(count: tokens, shallow: (0..<(tokens * w)).map { _ in 0.5 * rng.nextGaussian() },
                                    deep: [(0..<(tokens * w)).map { _ in 0.5 * rng.nextGaussian() }])
        let pixels = (0..<(count * 3 * tower.imageSize * tower.imageSize)).map { _ in rng.nextGaussian() }
        let dOut = (0..<(count * tower.projectionDim)).map { _ in rng.nextGaussian() }
        let state = try tower.forward(pixels: pixels, count: count, prompts: prompts)
        let exact = try fp32.forward(pixels: pixels, count: count, prompts: prompts)
        let gradients = try tower.backward(state, dNormalizedFeatures: dOut)
        let exactGradients = try fp32.backward(exact, dNormalizedFeatures: dOut)
        expectRelativeClose(gradients.shallow, exactGradients.shallow, tolerance: 2e-2, "bf16 shallow vision prompt gradient")
        expectRelativeClose(gradients.deep[0], exactGradients.deep[0], tolerance: 2e-2, "bf16 deep vision prompt gradient")
        let differs = expectRelativeClose(gradients.shallow, exactGradients.shallow, tolerance: 2e-2, "bf16 vs fp32")
        #expect(differs > 1e-6)
    }
}
