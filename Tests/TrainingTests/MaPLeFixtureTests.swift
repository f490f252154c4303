// MaPLe's and MaPLe+LAMM's objective through both prompted towers against PyTorch
// (Tools/make_maple_fixture.py: transformers' CLIPModel weights for clip-tiny, open_clip's modules
// for clip-tiny-openclip; float64 reference rounded to F32), each checkpoint loaded by
// lamm-store's own loader. Loss terms to 1e-4 relative; each gradient tensor's worst |difference|
// to 1e-3 of its largest entry; text and image features to 1e-4 of their largest entry.

import CLIP
import Formats
import Foundation
import Kernels
import Methods
import Testing
@testable import Training

@Suite struct MaPLeFixtureTests {
    static let checkpoints = ["clip-tiny", "clip-tiny-openclip"]
    let reference: SafetensorsFile

    init() throws {
        reference = try SafetensorsFile(url: Fixtures.root.appendingPathComponent("maple-loss/reference.safetensors"))
    }

    /// A result of the fixture: under `hf.` / `openclip.` when the two checkpoints' F32 results
    /// differ, else the one set both share.
    func result(_ name: String, checkpoint: String) throws -> [Float] {
        let prefixed = (checkpoint == "clip-tiny" ? "hf." : "openclip.") + name
        return try reference.floats(reference.contains(prefixed) ? prefixed : name)
    }

    /// Worst |actual - expected| relative to max |expected|, printed; at most `tolerance`.
    @discardableResult
    func compare(_ what: String, _ actual: ArraySlice<Float>, _ expected: [Float], tolerance: Float) -> Float {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
        guard actual.count == expected.count, !expected.isEmpty else { return .infinity }
        let scale = expected.map(abs).max()!
        var (worst, index): (Float, Int) = (0, 0)
        for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= worst) { (worst, index) = (abs(a - e), i) }
        print("\(what): worst |difference| \(worst) at \(index) (\(actual[actual.startIndex + index]) vs \(expected[index])), "
              + "relative \(worst / scale), max |expected| \(scale)")
        #expect(worst <= tolerance * scale, "\(what): worst |difference| \(worst) at \(index), scale \(scale)")
        return worst / scale
    }

    func compareLoss(_ what: String, _ actual: Float, _ expected: Float) {
        let relative = abs(actual - expected) / abs(expected)
        print("\(what): \(actual) vs \(expected), relative error \(relative)")
        #expect(relative <= 1e-4, "\(what): \(actual) vs \(expected)")
    }

    struct Setup {
        let trainer: Trainer
        let classes: [LabelClass]
        let prompts: MaPLePrompts
    }

    /// The trainer of `method` on `checkpoint` as lamm-store loads it, the fixture's classes
    /// (tokenised by the checkpoint's own tokenizer) and its prompts.
    func setup(_ checkpoint: String, _ method: Method) throws -> Setup {
        let directory = Fixtures.root.appendingPathComponent(checkpoint)
        let loaded = try CLIPCheckpoint(directory: directory, includingVision: true)
        let visionCheckpoint = try #require(loaded.visionCheckpoint, "\(checkpoint) holds no image tower")
        let tokenizer = try CLIPTokenizer(directory: directory, tokenEmbeddingRows: loaded.configuration.text.vocabularySize)
        let template = PromptTemplate(tokenizer: tokenizer)
        var configuration = LAMMConfiguration.defaults(for: method)
        configuration.promptDepth = 2
        #expect(configuration.contextLength == 2 && configuration.labelTokens == .all)
        let trainer = Trainer(checkpoint: loaded, text: TextTower(loaded), vision: VisionTower(visionCheckpoint),
                              template: template, configuration: configuration, method: method)
        try trainer.validate(continuing: nil)

        let names = ["dog", "golden cat", "bird", "black bird"]
        let labels = try names.map { try template.label(for: $0, tokenizer: tokenizer) }
        // The fixture's prompts are the template's (transformers' ids, EOT-padded).
        let ids = try reference.integers("prompt_ids"), eot = try reference.integers("eot")
        #expect(labels.map(\.tokenIDs.count) == (try reference.integers("label_len")))
        for (k, label) in labels.enumerated() {
            #expect(template.tokenIDs(label: label.tokenIDs) == Array(ids[(k * 77)...(k * 77 + eot[k])]), "\(names[k])")
        }
        let classes = labels.map { LabelClass(label: $0, source: .trained) }

        let w = 32
        func map(_ name: String) throws -> LinearMap {
            LinearMap(inputs: w, outputs: w, weight: try reference.floats(name + ".weight"), bias: try reference.floats(name + ".bias"))
        }
        let prompts = MaPLePrompts(contextLength: 2, textWidth: w, visionWidth: w, context: try reference.floats("context"),
                                   deepText: [try reference.floats("deep_text.1")], visionProjection: try map("vision_proj"),
                                   deepProjections: [try map("deep_proj.1")])
        return Setup(trainer: trainer, classes: classes, prompts: prompts)
    }

    @Test(arguments: checkpoints, [Method.maple, .mapleLAMM])
    func objectiveMatchesPyTorch(checkpoint: String, method: Method) throws {
        let (s, lamm) = (try setup(checkpoint, method), method.trainsLabels)
        let key = lamm ? "maple_lamm." : "maple."
        let tag = "[\(checkpoint) \(method.rawValue)]"
        let trainer = s.trainer

        // Where a run starts: the context from `a photo`, the label vectors from the class names.
        var random = SplitMix64(seed: 1)
        #expect(trainer.initialPrompts(random: &random).context == (try reference.floats("context_init")))
        let labelInit = try reference.floats("label_init")
        #expect(trainer.initialLabelValues(s.classes, random: &random) == (lamm ? labelInit : []))

        let weights = trainer.configuration.lossWeights(shots: try reference.integers("shots")[0], method: method)
        if lamm {
            let expected = try reference.floats("loss_weights")
            #expect([weights.wc, weights.cos, weights.kd, weights.temperature] == expected)
        }
        let labelValues = lamm ? try reference.floats("label_vectors") : []
        let pixels = try reference.floats("pixels"), labels = try reference.integers("labels")
        let layout = trainer.layout(s.classes, prompts: .maple(s.prompts), reference: lamm ? labelInit : [], weights: weights)
        let (terms, gradient) = try trainer.objective(s.prompts.flattened + labelValues, layout: layout, images: pixels, labels: labels)

        compareLoss("\(tag) loss_ce", terms.ce, try result(key + "loss_ce", checkpoint: checkpoint)[0])
        compareLoss("\(tag) loss_total", terms.total, try result(key + "loss_total", checkpoint: checkpoint)[0])
        if lamm {
            compareLoss("\(tag) loss_wc", terms.wc, try result(key + "loss_wc", checkpoint: checkpoint)[0])
            compareLoss("\(tag) loss_cos", terms.cos, try result(key + "loss_cos", checkpoint: checkpoint)[0])
            compareLoss("\(tag) loss_kd", terms.kd, try result(key + "loss_kd", checkpoint: checkpoint)[0])
        } else {
            #expect(terms.wc == 0 && terms.cos == 0 && terms.kd == 0 && terms.total == terms.ce)
        }

        // The gradient, laid out as MaPLePrompts.flattened and then the label values.
        let tensors = ["context", "deep_text.1", "vision_proj.weight", "vision_proj.bias", "deep_proj.1.weight", "deep_proj.1.bias"]
            + (lamm ? ["label_vectors"] : [])
        let expected = try tensors.map { try result(key + "grad." + $0, checkpoint: checkpoint) }
        #expect(gradient.count == s.prompts.parameterCount + labelValues.count)
        #expect(gradient.count == expected.map(\.count).reduce(0, +))
        var start = 0
        for (name, values) in zip(tensors, expected) where start + values.count <= gradient.count {
            compare("\(tag) grad.\(name)", gradient[start..<(start + values.count)], values, tolerance: 1e-3)
            start += values.count
        }

        let text = try trainer.textFeatures(s.classes, prompts: .maple(s.prompts), labelValues: labelValues)
        compare("\(tag) text_features", text[...], try result(key + "text_features", checkpoint: checkpoint), tolerance: 1e-4)
        let images = try trainer.imageFeatures(pixels: pixels, count: labels.count, prompts: .maple(s.prompts))
        compare("\(tag) image_features", images[...], try result(key + "image_features", checkpoint: checkpoint), tolerance: 1e-4)
        if lamm {
            // psi(y): the same prompts with CLIP's class tokens, i.e. MaPLe's text features.
            let maple = try setup(checkpoint, .maple)
            let psiY = try maple.trainer.textFeatures(maple.classes, prompts: .maple(s.prompts))
            compare("\(tag) reference_features", psiY[...], try result(key + "reference_features", checkpoint: checkpoint), tolerance: 1e-4)
        }
    }
}
