import CLIP
import Formats
import Foundation
import Kernels
import Testing
@testable import Training

/// The hierarchical loss and its gradients with respect to the label vectors against PyTorch
/// (Tools/make_lamm_loss_fixture.py on the clip-tiny model, float64 reference rounded to F32).
/// Losses to 1e-4 relative; gradients to 1e-3 relative to the tensor's largest entry.
@Suite struct LAMMLossFixtureTests {
    let model: TinyModel
    let reference: SafetensorsFile

    init() throws {
        model = try TinyModel()
        reference = try SafetensorsFile(url: Fixtures.root.appendingPathComponent("lamm-loss/reference.safetensors"))
    }

    func compare(_ name: String, _ actual: [Float], _ expected: [Float], tolerance: Float) {
        #expect(actual.count == expected.count, "\(name): \(actual.count) values, expected \(expected.count)")
        // A count mismatch fails above; comparing further would read past the shorter array.
        guard actual.count == expected.count else { return }
        let scale = max(expected.map(abs).max() ?? 0, 1e-12)
        var worst: (Float, Int) = (0, 0)
        for i in expected.indices where abs(actual[i] - expected[i]) > worst.0 { worst = (abs(actual[i] - expected[i]), i) }
        print("\(name): worst |difference| \(worst.0) at \(worst.1) (relative \(worst.0 / scale))")
        #expect(worst.0 <= tolerance * scale, "\(name): worst |difference| \(worst.0) at \(worst.1), scale \(scale)")
    }

    @Test(arguments: ["", "single."])
    func lossTermsAndGradientsMatchPyTorch(prefix: String) throws {
        let names = ["dog", "cat", "golden retriever", "hummingbird"]
        let labels = try names.map { try model.template.label(for: $0, tokenizer: model.tokenizer) }
        #expect(labels.map(\.tokenIDs.count) == (try reference.integers("label_len")))
        for (k, label) in labels.enumerated() {
            let ids = Array(try reference.integers("prompt_ids")[(k * 77)..<(k * 77 + label.tokenIDs.count + 7)])
            #expect(model.template.tokenIDs(label: label.tokenIDs) == ids, "prompt of \(names[k])")
        }
        let trainer = model.trainer()
        var random = SplitMix64(seed: 1)
        let classes = labels.map { LabelClass(label: $0, source: .trained) }
        let prompts = trainer.initialPrompts(random: &random)
        let initial = try reference.floats("label_init")
        #expect(trainer.initialLabelValues(classes, random: &random) == initial)
        let theta = try reference.floats("label_vectors")
        let d = model.dimension
        let clip = try model.clipFeatures(labels)
        compare("text_features_clip", clip, try reference.floats("text_features_clip"), tolerance: 1e-4)
        let images = l2Normalize(try reference.floats(prefix + "image_features"), rows: 8, columns: d).out
        let batchLabels = try reference.integers(prefix + "labels")
        let lambdas = try reference.floats("lambdas")
        let space = labels.enumerated().map { c, label in LabelClass(label: label, source: .trained, clipTextFeature: Array(clip[(c * d)..<((c + 1) * d)])) }
        func run(_ weights: LossWeights) throws -> (LossTerms, [Float]) {
            try trainer.objective(theta, layout: trainer.layout(space, prompts: prompts, reference: initial, weights: weights),
                                  images: images, labels: batchLabels)
        }
        let (terms, total) = try run(LossWeights(wc: lambdas[0], cos: lambdas[1], kd: lambdas[2], temperature: 2))
        for (name, value) in [("loss_ce", terms.ce), ("loss_wc", terms.wc), ("loss_cos", terms.cos), ("loss_kd", terms.kd), ("loss_total", terms.total)] {
            let expected = try reference.floats(prefix + name)[0]
            #expect(abs(value - expected) <= 1e-4 * max(abs(expected), 1e-3), "\(prefix)\(name): \(value) vs \(expected)")
        }
        compare(prefix + "grad_total", total, try reference.floats(prefix + "grad_total"), tolerance: 1e-3)
        // Each term's own gradient, by switching the others off (CE is always on).
        let ce = try run(LossWeights(wc: 0, cos: 0, kd: 0)).1
        compare(prefix + "grad_ce", ce, try reference.floats(prefix + "grad_ce"), tolerance: 1e-3)
        let withKD = try run(LossWeights(wc: 0, cos: 0, kd: 1, temperature: 2)).1
        compare(prefix + "grad_kd", zip(withKD, ce).map { $0 - $1 }, try reference.floats(prefix + "grad_kd"), tolerance: 1e-3)
        let withWC = try run(LossWeights(wc: 1, cos: 0, kd: 0)).1
        compare(prefix + "grad_wc", zip(withWC, ce).map { $0 - $1 }, try reference.floats(prefix + "grad_wc"), tolerance: 1e-3)
        let withCOS = try run(LossWeights(wc: 0, cos: 1, kd: 0)).1
        let cos = zip(withCOS, ce).map { $0 - $1 }
        let expectedCOS = try reference.floats(prefix + "grad_cos")
        if expectedCOS.allSatisfy({ $0 == 0 }) {
            #expect(cos.allSatisfy { $0 == 0 }, "L_COS is skipped for a single-class batch")
        } else {
            compare(prefix + "grad_cos", cos, expectedCOS, tolerance: 1e-3)
        }
    }
}
