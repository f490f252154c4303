// Parity of the text tower with PyTorch (transformers CLIPModel / open_clip) on the tiny
// random checkpoints built by Tools/make_tiny_clip.py, in the manner of llm.c's test_gpt2.c:
// each tensor is compared with a stated tolerance relative to its largest absolute value,
// and the worst element is printed.
//   features: 1e-4 relative; gradients: 1e-3 relative.

import Foundation
import Formats
import Testing

@testable import CLIP

let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Largest |actual - expected| relative to max |expected|, with its index, printed.
@discardableResult
func expectRelativeClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String) -> Float {
    #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
    guard actual.count == expected.count, !expected.isEmpty else { return .infinity }
    let scale = max(expected.map(abs).max()!, 1e-30)
    var (worst, index): (Float, Int) = (0, 0)
    for i in expected.indices {
        let error = abs(actual[i] - expected[i]) / scale
        if !(error <= worst) { (worst, index) = (error, i) }
    }
    print("\(what): worst relative error \(worst) at index \(index) (\(actual[index]) vs \(expected[index]), max |expected| \(scale))")
    #expect(worst <= tolerance, "\(what): worst relative error \(worst) at \(index): \(actual[index]) vs \(expected[index])")
    return worst
}

/// The reference tensors of one fixture directory.
struct Reference {
    let ids: [[Int]]  // each prompt's ids from SOT to EOT
    let trainable: [[Bool]]  // same shape as ids
    let inputsEmbeds: [[[Float]]]  // [P][position][W] up to EOT
    let gradInputsEmbeds: [[[Float]]]
    let textEmbeds: [Float]
    let splicedTextEmbeds: [Float]
    let lossWeights: [Float]
    let loss: Float

    init(directory: URL, width: Int) throws {
        let file = try SafetensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        let length = try file.info("ids").shape[1]
        let allIDs = try file.integers("ids"), eot = try file.integers("eot"), flags = try file.integers("trainable")
        let embeds = try file.floats("inputs_embeds"), grads = try file.floats("grad_inputs_embeds")
        var ids: [[Int]] = [], trainable: [[Bool]] = [], inputs: [[[Float]]] = [], gradients: [[[Float]]] = []
        for p in eot.indices {
            let positions = 0...eot[p]
            ids.append(positions.map { allIDs[p * length + $0] })
            trainable.append(positions.map { flags[p * length + $0] != 0 })
            func row(_ values: [Float], _ t: Int) -> [Float] { Array(values[((p * length + t) * width)..<((p * length + t + 1) * width)]) }
            inputs.append(positions.map { row(embeds, $0) })
            gradients.append(positions.map { row(grads, $0) })
        }
        self.ids = ids
        self.trainable = trainable
        inputsEmbeds = inputs
        gradInputsEmbeds = gradients
        textEmbeds = try file.floats("text_embeds")
        splicedTextEmbeds = try file.floats("spliced_text_embeds")
        lossWeights = try file.floats("loss_weights")
        loss = try file.floats("loss")[0]
    }

    /// Prompts whose rows marked by `isVector` are spliced in as vectors (the rows of inputs_embeds).
    func splicedPrompts(isVector: (Int, Int) -> Bool) -> ([PromptRows], [Float], [(prompt: Int, position: Int)]) {
        var prompts: [PromptRows] = [], vectors: [Float] = [], owners: [(Int, Int)] = []
        for p in ids.indices {
            prompts.append(PromptRows(ids[p].indices.map { t in
                guard isVector(p, t) else { return .token(ids[p][t]) }
                vectors += inputsEmbeds[p][t]
                owners.append((p, t))
                return .vector(index: owners.count - 1)
            }))
        }
        return (prompts, vectors, owners)
    }
}

@Test(arguments: ["clip-tiny", "clip-tiny-f16", "clip-tiny-bf16", "clip-tiny-gelu", "clip-tiny-openclip"])
func textTowerMatchesPyTorch(fixture: String) throws {
    let directory = fixturesDirectory.appendingPathComponent(fixture)
    let checkpoint = try CLIPCheckpoint(directory: directory)
    let tower = TextTower(checkpoint)
    let width = checkpoint.configuration.text.hiddenSize, proj = checkpoint.configuration.projectionDim
    let reference = try Reference(directory: directory, width: width)
    let logitScale = try SafetensorsFile(url: directory.appendingPathComponent("reference.safetensors")).floats("logit_scale")[0]
    #expect(abs(checkpoint.logLogitScale - logitScale) <= 1e-6)
    #expect(abs(checkpoint.logitScale - exp(logitScale)) <= 1e-4)

    // Frozen prompts: the text features of the token ids.
    let features = try tower.encode(tokenIDs: reference.ids)
    expectRelativeClose(features, reference.textEmbeds, tolerance: 1e-4, "\(fixture) text_embeds")

    // Label rows spliced in as trainable vectors, the rest looked up (shared prefixes in play).
    let (prompts, vectors, owners) = reference.splicedPrompts { reference.trainable[$0][$1] }
    let state = try tower.forward(prompts, vectors: vectors)
    expectRelativeClose(state.features, reference.splicedTextEmbeds, tolerance: 1e-4, "\(fixture) spliced_text_embeds")
    var loss: Float = 0
    for i in state.normalizedFeatures.indices { loss += state.normalizedFeatures[i] * reference.lossWeights[i] }
    #expect(abs(loss - reference.loss) <= 1e-4 * max(1, abs(reference.loss)), "\(fixture) loss \(loss) vs \(reference.loss)")
    #expect(state.normalizedFeatures.count == reference.ids.count * proj)

    let gradient = try tower.backward(state, dNormalizedFeatures: reference.lossWeights)
    let expectedGradient = owners.flatMap { reference.gradInputsEmbeds[$0.prompt][$0.position] }
    expectRelativeClose(gradient, expectedGradient, tolerance: 1e-3, "\(fixture) grad of trainable rows")

    // Every row up to EOT a vector: the whole gradient of inputs_embeds.
    let (allPrompts, allVectors, allOwners) = reference.splicedPrompts { _, _ in true }
    let allState = try tower.forward(allPrompts, vectors: allVectors)
    expectRelativeClose(allState.features, reference.splicedTextEmbeds, tolerance: 1e-4, "\(fixture) all rows spliced")
    let allGradient = try tower.backward(allState, dNormalizedFeatures: reference.lossWeights)
    let allExpected = allOwners.flatMap { reference.gradInputsEmbeds[$0.prompt][$0.position] }
    expectRelativeClose(allGradient, allExpected, tolerance: 1e-3, "\(fixture) grad of all rows")
}

@Test func openCLIPCheckpointEqualsHuggingFaceOne() throws {
    let hf = try CLIPCheckpoint(directory: fixturesDirectory.appendingPathComponent("clip-tiny"))
    let oc = try CLIPCheckpoint(directory: fixturesDirectory.appendingPathComponent("clip-tiny-openclip"))
    #expect(oc.configuration.text == hf.configuration.text)
    #expect(oc.configuration.projectionDim == hf.configuration.projectionDim)
    #expect(oc.logLogitScale == hf.logLogitScale)
    let a = oc.huggingFaceTensors(), b = hf.huggingFaceTensors()
    #expect(a.map(\.name) == b.map(\.name))
    for (x, y) in zip(a, b) {
        #expect(x.shape == y.shape && x.values == y.values, "tensor \(x.name) differs between the open_clip and HF checkpoints")
    }
}
