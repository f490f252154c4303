// `lamm-bench maple-step`: one MaPLe training step at ViT-B/16 sizes with random weights: 4
// images and 50 classes' prompts forward and backward through both towers (depth 9, 2 context
// vectors), against PyTorch fp32 doing the same step on the same weights and inputs
// (Tools/bench_maple_step.py) when --python is given. Reports steps/s, images/s trained, and
// where the time goes: the text tower (forward and backward of the 50 prompts), the image
// tower's forward, and its backward.
//   lamm-bench maple-step [--python PATH] [--classes 50] [--images 4] [--repeats 5] [--rounds 2]

import CLIP
import Formats
import Foundation
import Kernels
import Training

struct MaPLeStepBenchmark {
    var python: String?
    var classCount = 50
    var imageCount = 4
    var repeats = 5
    var rounds = 2
    var threads = 2
    var depth = 9

    static var configuration: CLIPConfiguration {
        var configuration = CLIPConfiguration()
        configuration.text = CLIPTextConfiguration(
            vocabularySize: 49408, hiddenSize: 512, intermediateSize: 2048, hiddenLayers: 12, attentionHeads: 8,
            maxPositions: 77, hiddenActivation: .quickGELU, layerNormEpsilon: 1e-5)
        configuration.vision = CLIPVisionConfiguration(
            hiddenSize: 768, intermediateSize: 3072, hiddenLayers: 12, attentionHeads: 12, imageSize: 224, patchSize: 16)
        configuration.projectionDim = 512
        configuration.logitScaleInitValue = Float(log(100.0))
        return configuration
    }

    func run() throws {
        setBLASThreadCount(threads)
        let configuration = Self.configuration
        print("maple-step benchmark: one MaPLe training step at ViT-B/16 sizes (text 512 x 12, image 768 x 12, 197 + 2 positions), random weights")
        print("\(classCount) classes' prompts, \(imageCount) images, prompt depth \(depth), 2 context vectors; OpenBLAS threads: \(blasThreadCount()), cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        let start = Date()
        var checkpoint = CLIPCheckpoint.random(configuration: configuration, seed: 2026)
        let visionCheckpoint = CLIPVisionCheckpoint.random(configuration: configuration, seed: 2027)
        checkpoint.vision = visionCheckpoint.vision
        let text = TextTower(checkpoint), vision = VisionTower(visionCheckpoint)
        // CLIP's ids of SOT, EOT, `a photo of a` and `.`.
        let template = PromptTemplate(startOfText: 49406, endOfText: 49407, prefix: [320, 1125, 539, 320], suffix: [269])
        var rng = SplitMix64(seed: 5)
        let classes = (0..<classCount).map { c in
            LabelClass(label: ClassLabel(name: "class \(c)", tokenIDs: (0...(c % 3)).map { _ in 1000 + Int(rng.next() % 40000) }),
                       source: .words)
        }
        var mapleConfiguration = LAMMConfiguration.defaults(for: .maple)
        mapleConfiguration.promptDepth = depth
        let trainer = Trainer(checkpoint: checkpoint, text: text, vision: vision, template: template,
                              configuration: mapleConfiguration, method: .maple)
        let parameters = trainer.initialPrompts(random: &rng)
        let prompts = parameters.maplePrompts!
        let side = configuration.vision.imageSize
        let pixels = (0..<(imageCount * 3 * side * side)).map { _ in rng.nextGaussian() }
        let labels = (0..<imageCount).map { $0 * 7 % classCount }
        let layout = trainer.layout(classes, prompts: parameters, weights: mapleConfiguration.lossWeights(shots: 16, method: .maple))
        print(String(format: "random weights %.1f s", Date().timeIntervalSince(start)))

        func step() throws -> (LossTerms, [Float]) {
            try trainer.objective(parameters.flattened, layout: layout, images: pixels, labels: labels)
        }
        _ = try step()  // warm-up
        // The same step on bf16 copies of both towers.
        let bf16Trainer = BF16Support.isAvailable
            ? Trainer(checkpoint: checkpoint, text: TextTower(checkpoint, precision: .bf16),
                      vision: VisionTower(visionCheckpoint, precision: .bf16), template: template,
                      configuration: mapleConfiguration, method: .maple)
            : nil
        func bf16Step() throws -> (LossTerms, [Float])? {
            try bf16Trainer?.objective(parameters.flattened, layout: layout, images: pixels, labels: labels)
        }
        _ = try bf16Step()

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-maple-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        if python != nil {
            try writeReferenceInputs(checkpoint: checkpoint, template: template, classes: classes, prompts: prompts, pixels: pixels,
                                     labels: labels, to: directory)
        }

        // Parts of the step, with the same inputs: the text tower alone, the image tower's forward, and its backward.

        let dText = (0..<(classCount * configuration.projectionDim)).map { _ in rng.nextGaussian() }
        let dImage = (0..<(imageCount * configuration.projectionDim)).map { _ in rng.nextGaussian() }
        var swiftBest = Double.infinity, torchBest = Double.infinity, bf16Best = Double.infinity, torchBF16Best = Double.infinity
        var parts = (text: Double.infinity, visionForward: Double.infinity, visionBackward: Double.infinity)
        var torchParts: [String: Any] = [:]
        for round in 1...rounds {
            var times: [Double] = []
            var gradient: [Float] = [], loss: Float = 0
            for _ in 0..<repeats {
                times.append(try seconds {
                    let (terms, g) = try step()
                    (gradient, loss) = (g, terms.total)
                })
            }
            swiftBest = min(swiftBest, times.min()!)
            parts.text = min(parts.text, try seconds {
                let state = try text.forward(layout.textPrompts, vectors: prompts.context, deep: prompts.textDeepPrompts)
                _ = try text.gradients(state, dNormalizedFeatures: dText)
            })
            var state: VisionForwardState?
            parts.visionForward = min(parts.visionForward, try seconds {
                state = try vision.forward(pixels: pixels, count: imageCount, prompts: prompts.visionPrompts)
            })
            parts.visionBackward = min(parts.visionBackward, try seconds { _ = try vision.backward(state!, dNormalizedFeatures: dImage) })
            print(String(format: "    round %d Swift fp32: best step %.3f s (median %.3f s of %d): %.2f steps/s, %.1f images/s trained",
                         round, times.min()!, median(times), repeats, 1 / times.min()!, Double(imageCount) / times.min()!))
            if bf16Trainer != nil {
                var bf16Times: [Double] = [], bf16Gradient: [Float] = []
                for _ in 0..<repeats { bf16Times.append(try seconds { bf16Gradient = try bf16Step()!.1 }) }
                bf16Best = min(bf16Best, bf16Times.min()!)
                print(String(format: "    round %d Swift bf16: best step %.3f s (median %.3f s of %d): %.2f steps/s; gradient against fp32's: max difference %.1e of its largest entry",
                             round, bf16Times.min()!, median(bf16Times), repeats, 1 / bf16Times.min()!,
                             maxDifference(bf16Gradient, gradient) / gradient.map(abs).max()!))
            }
            guard let python else { break }
            let reference = try runPythonReference(
                python: python, script: "bench_maple_step.py",
                arguments: ["--model", directory.appendingPathComponent("model").path,
                            "--inputs", directory.appendingPathComponent("inputs.safetensors").path,
                            "--out", directory.appendingPathComponent("out.safetensors").path, "--repeats", "\(repeats)"],
                threads: threads)
            let torchSeconds = reference["seconds"] as? Double ?? .nan
            torchBest = min(torchBest, torchSeconds)
            torchParts = reference
            torchBF16Best = min(torchBF16Best, reference["bf16_seconds"] as? Double ?? .nan)
            print(String(format: "    round %d PyTorch %@ (%d threads): best step %.3f s (median %.3f s): %.2f steps/s",
                         round, (reference["torch"] as? String ?? "?") as NSString, reference["threads"] as? Int ?? 0, torchSeconds,
                         reference["median_seconds"] as? Double ?? .nan, 1 / torchSeconds))
            let out = try SafetensorsFile(url: directory.appendingPathComponent("out.safetensors"))
            let torchLoss = try out.floats("loss")[0]
            let torchGradient = try referenceGradient(out, prompts: prompts)
            print(String(format: "    same step: loss %.6f vs %.6f, gradient max difference %.1e of its largest entry",
                         loss, torchLoss, maxDifference(gradient, torchGradient) / torchGradient.map(abs).max()!))
        }
        print("")
        print(String(format: "where Swift's step goes: text tower (forward + backward, %d prompts) %.3f s, image forward %.3f s, image backward %.3f s",
                     classCount, parts.text, parts.visionForward, parts.visionBackward))
        var scaling = "steps/s at 1 / 2 threads:"
        for (precision, run) in [(Precision.fp32, { _ = try step() })] + (bf16Trainer != nil ? [(Precision.bf16, { _ = try bf16Step() })] : []) {
            var rates: [Double] = []
            for threadCount in [1, 2] {
                setBLASThreadCount(threadCount)
                rates.append(1 / (try seconds { try run() }))
            }
            scaling += String(format: " %@ %.3f / %.3f", precision.rawValue as NSString, rates[0], rates[1])
        }
        setBLASThreadCount(threads)
        print(scaling)
        if bf16Trainer != nil {
            print(String(format: "maple-step bf16: %.2f steps/s, %.2fx its own fp32", 1 / bf16Best, swiftBest / bf16Best))
        }
        guard python != nil else {
            print(String(format: "maple-step: %.2f steps/s, %.1f images/s trained (PyTorch reference skipped: pass --python or set LAMM_BENCH_PYTHON)",
                         1 / swiftBest, Double(imageCount) / swiftBest))
            return
        }
        print(String(format: "where PyTorch's goes: text tower %.3f s, image forward %.3f s, image forward + backward %.3f s",
                     torchParts["text_seconds"] as? Double ?? .nan, torchParts["vision_forward_seconds"] as? Double ?? .nan,
                     torchParts["vision_step_seconds"] as? Double ?? .nan))
        print(String(format: "maple-step: %.2f steps/s (%.1f images/s trained) against PyTorch's %.2f (best of %d rounds each): %.2fx (target >= 1.5x)",
                     1 / swiftBest, Double(imageCount) / swiftBest, 1 / torchBest, rounds, torchBest / swiftBest))
        if bf16Trainer != nil {
            print(String(format: "maple-step bf16: %.2f steps/s against PyTorch bf16 autocast's %.2f: %.2fx (target >= 1.5x)",
                         1 / bf16Best, 1 / torchBF16Best, torchBF16Best / bf16Best))
        }
    }

    /// The model as a Hugging Face CLIPModel directory and the step's inputs, for Tools/bench_maple_step.py.
    func writeReferenceInputs(checkpoint: CLIPCheckpoint, template: PromptTemplate, classes: [LabelClass], prompts: MaPLePrompts,
                              pixels: [Float], labels: [Int], to directory: URL) throws {
        try checkpoint.writeHuggingFace(to: directory.appendingPathComponent("model"))
        let (n, wt, wv) = (prompts.contextLength, prompts.textWidth, prompts.visionWidth)
        var writer = SafetensorsWriter()
        var ids: [Int] = [], eot: [Int] = []
        for cls in classes {
            let prompt = template.tokenIDs(label: cls.label.tokenIDs)
            eot.append(prompt.count - 1)
            ids += prompt + [Int](repeating: template.endOfText, count: 77 - prompt.count)
        }
        try writer.add("prompt_ids", integers: ids, shape: [classes.count, 77], as: .i32)
        try writer.add("eot", integers: eot, shape: [classes.count], as: .i32)
        let side = Self.configuration.vision.imageSize
        try writer.add("pixels", floats: pixels, shape: [labels.count, 3, side, side])
        try writer.add("labels", integers: labels, shape: [labels.count], as: .i32)
        try writer.add("ctx", floats: prompts.context, shape: [n, wt])
        try writer.add("proj.weight", floats: prompts.visionProjection.weight, shape: [wv, wt])
        try writer.add("proj.bias", floats: prompts.visionProjection.bias, shape: [wv])
        for (i, deep) in prompts.deepText.enumerated() {
            try writer.add("deep_text.\(i)", floats: deep, shape: [n, wt])
            try writer.add("deep_proj.\(i).weight", floats: prompts.deepProjections[i].weight, shape: [wv, wt])
            try writer.add("deep_proj.\(i).bias", floats: prompts.deepProjections[i].bias, shape: [wv])
        }
        try writer.write(to: directory.appendingPathComponent("inputs.safetensors"))
    }

    /// PyTorch's gradients laid out as `MaPLePrompts.flattened`.
    func referenceGradient(_ out: SafetensorsFile, prompts: MaPLePrompts) throws -> [Float] {
        var gradient = try out.floats("grad_ctx")
        for i in prompts.deepText.indices { gradient += try out.floats("grad_deep_text.\(i)") }
        gradient += try out.floats("grad_proj.weight") + out.floats("grad_proj.bias")
        for i in prompts.deepText.indices {
            gradient += try out.floats("grad_deep_proj.\(i).weight") + out.floats("grad_deep_proj.\(i).bias")
        }
        return gradient
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}
