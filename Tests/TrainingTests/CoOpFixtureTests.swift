import CLIP
import Formats
import Foundation
import Kernels
import Methods
import Testing
@testable import Training

/// CoOp's context gradient (cross-entropy) and CoOp+LAMM's context and label gradients (the
/// hierarchical loss) against PyTorch (Tools/make_coop_fixture.py on clip-tiny, float64
/// reference rounded to F32). Losses to 1e-4 relative; gradients to 1e-3 relative to the
/// tensor's largest entry.
@Suite struct CoOpFixtureTests {
    let model: TinyModel
    let reference: SafetensorsFile

    init() throws {
        model = try TinyModel()
        reference = try SafetensorsFile(url: Fixtures.root.appendingPathComponent("coop-loss/reference.safetensors"))
    }

    func compare(_ name: String, _ actual: ArraySlice<Float>, _ expected: [Float]) {
        #expect(actual.count == expected.count)
        let scale = expected.map(abs).max()!
        let worst = zip(actual, expected).map { abs($0 - $1) }.max()!
        print("\(name): worst |difference| \(worst) (relative \(worst / scale))")
        #expect(worst <= 1e-3 * scale, "\(name): worst |difference| \(worst), scale \(scale)")
    }

    @Test(arguments: [Method.coop, .coopLAMM])
    func gradientsMatchPyTorch(method: Method) throws {
        let labels = try ["dog", "cat", "golden retriever", "hummingbird"].map { try model.template.label(for: $0, tokenizer: model.tokenizer) }
        #expect(labels.map(\.tokenIDs.count) == (try reference.integers("label_len")))
        let trainer = model.trainer(method: method)
        var random = SplitMix64(seed: 1)
        let prompts = trainer.initialPrompts(random: &random)
        let context = try reference.floats("context_init")
        let w = 32
        // The context starts from the words of `a photo of a`, as in the fixture.
        #expect(prompts.flattened == context)
        let labelInit = try reference.floats("label_init")
        let initialLabels = trainer.initialLabelValues(labels.map { LabelClass(label: $0, source: .trained) }, random: &random)
        if method.trainsLabels { #expect(initialLabels == labelInit) }
        let theta = try reference.floats("context") + (method.trainsLabels ? try reference.floats("label_vectors") : [])
        let d = model.dimension
        let clip = try model.clipFeatures(labels)
        let images = l2Normalize(try reference.floats("image_features"), rows: 8, columns: d).out
        let lambdas = try reference.floats("lambdas")
        let weights = method.usesHierarchicalLoss ? LossWeights(wc: lambdas[0], cos: lambdas[1], kd: lambdas[2], temperature: 2)
                                                  : LossWeights(wc: 0, cos: 0, kd: 0)
        let classes = labels.enumerated().map { c, label in LabelClass(label: label, source: .trained, clipTextFeature: Array(clip[(c * d)..<((c + 1) * d)])) }
        let layout = trainer.layout(classes, prompts: prompts, reference: initialLabels, weights: weights)
        let (terms, gradient) = try trainer.objective(theta, layout: layout, images: images, labels: try reference.integers("labels"))
        let prefix = method == .coop ? "coop." : "coop_lamm."
        let expectedLoss = try reference.floats(method == .coop ? "coop.loss" : "coop_lamm.loss_total")[0]
        #expect(abs(terms.total - expectedLoss) <= 1e-4 * abs(expectedLoss), "loss \(terms.total) vs \(expectedLoss)")
        compare(prefix + "grad_context", gradient[0..<(4 * w)], try reference.floats(prefix + "grad_context"))
        if method.trainsLabels {
            for term in ["ce", "wc", "cos", "kd"] {
                let value = [terms.ce, terms.wc, terms.cos, terms.kd][["ce", "wc", "cos", "kd"].firstIndex(of: term)!]
                let expected = try reference.floats("coop_lamm.loss_" + term)[0]
                #expect(abs(value - expected) <= 1e-4 * max(abs(expected), 1e-3), "loss_\(term): \(value) vs \(expected)")
            }
            compare("coop_lamm.grad_label_vectors", gradient[(4 * w)...], try reference.floats("coop_lamm.grad_label_vectors"))
        }
    }
}
