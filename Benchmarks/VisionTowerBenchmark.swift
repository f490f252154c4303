// `lamm-bench vision-tower`: the native CLIP image tower at the real ViT-B/32 and ViT-B/16
// sizes with random weights, in images per second on 2 threads, against PyTorch encoding the
// same pixels with the same weights (Tools/bench_vision_tower.py: transformers'
// CLIPVisionModelWithProjection, torch.no_grad) when --python is given.
//   lamm-bench vision-tower [--python PATH] [--model B/32|B/16] [--images N] [--repeats N]
//                           [--rounds N] [--batch N] [--quick]
// --images: per model (defaults 128 at B/32, 48 at B/16); --batch: PyTorch's batch size (32);
// --rounds: turns of Swift then PyTorch (2); --quick: 16 images, one run, one round.

import CLIP
import Formats
import Foundation
import Kernels

struct VisionTowerBenchmark {
    /// One ViT size: (image, patch) with CLIP's ViT-B widths (768, 12 layers, 12 heads, MLP 3072, projection 512).
    struct Model {
        var name: String
        var patchSize: Int
        var imageCount: Int

        var configuration: CLIPConfiguration {
            var configuration = CLIPConfiguration()
            configuration.vision = CLIPVisionConfiguration(
                hiddenSize: 768, intermediateSize: 3072, hiddenLayers: 12, attentionHeads: 12,
                imageSize: 224, patchSize: patchSize, hiddenActivation: .quickGELU)
            configuration.projectionDim = 512
            return configuration
        }
    }

    var python: String?
    var models = [Model(name: "ViT-B/32", patchSize: 32, imageCount: 128), Model(name: "ViT-B/16", patchSize: 16, imageCount: 48)]
    var repeats = 3
    var rounds = 2
    var batch = 32
    var threads = 2

    func run() throws {
        setBLASThreadCount(threads)
        print("vision-tower benchmark: CLIP image towers (width 768, 12 layers, 12 heads, MLP 3072, projection 512, image 224), random weights")
        print("OpenBLAS threads: \(blasThreadCount()), cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        var summary: [String] = []
        for model in models {
            summary.append(try measure(model))
        }
        print("")
        summary.forEach { print($0) }
    }

    /// Times one model size; returns its summary line.
    func measure(_ model: Model) throws -> String {
        let configuration = model.configuration
        let v = configuration.vision
        let start = Date()
        let checkpoint = CLIPVisionCheckpoint.random(configuration: configuration, seed: 2025)
        let tower = VisionTower(checkpoint)
        let bf16Tower = BF16Support.isAvailable ? VisionTower(checkpoint, precision: .bf16) : nil
        var rng = SplitMix64(seed: 9)
        let n = model.imageCount
        let pixels = (0..<(n * 3 * v.imageSize * v.imageSize)).map { _ in rng.nextGaussian() }
        print("")
        print(String(format: "%@: %d patches + class token = %d positions; random weights %.1f s",
                     model.name as NSString, v.gridSize * v.gridSize, v.positionCount, Date().timeIntervalSince(start)))

        _ = try tower.encode(pixels: Array(pixels.prefix(3 * v.imageSize * v.imageSize * min(n, 4))), count: min(n, 4))
        let flops = Self.flopsPerImage(configuration) * Double(n)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-vision-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        if python != nil { try writeReferenceInputs(checkpoint: checkpoint, pixels: pixels, count: n, to: directory) }

        // The speed a shared machine gives changes from minute to minute, so Swift and PyTorch
        // take turns, and each side's best run counts.
        var swiftBest = Double.infinity, torchBest = Double.infinity, bf16Best = Double.infinity, torchBF16Best = Double.infinity
        for round in 1...rounds {
            var times: [Double] = [], bf16Times: [Double] = []
            var features: [Float] = [], bf16Features: [Float] = []
            for _ in 0..<repeats {
                times.append(try seconds { features = try tower.encode(pixels: pixels, count: n) })
            }
            swiftBest = min(swiftBest, times.min()!)
            print(String(format: "    round %d Swift fp32: %d images, best %.2f s (median %.2f s of %d): %.1f images/s, %.1f GFLOP/s",
                         round, n, times.min()!, median(times), repeats, Double(n) / times.min()!, flops / times.min()! / 1e9))
            if let bf16Tower {
                for _ in 0..<repeats {
                    bf16Times.append(try seconds { bf16Features = try bf16Tower.encode(pixels: pixels, count: n) })
                }
                bf16Best = min(bf16Best, bf16Times.min()!)
                print(String(format: "    round %d Swift bf16: best %.2f s (median %.2f s of %d): %.1f images/s, %.1f GFLOP/s; features against fp32's: %.1e",
                             round, bf16Times.min()!, median(bf16Times), repeats, Double(n) / bf16Times.min()!, flops / bf16Times.min()! / 1e9,
                             relativeError(bf16Features, features)))
            }
            guard let python else { break }
            let reference = try runPyTorch(python: python, directory: directory)
            torchBest = min(torchBest, reference.seconds)
            torchBF16Best = min(torchBF16Best, reference.bf16Seconds)
            print(String(format: "    round %d PyTorch %@ (%d threads, %@ attention, batches of %d): fp32 best %.2f s (median %.2f s): %.1f images/s; bf16 autocast best %.2f s: %.1f images/s",
                         round, reference.version as NSString, reference.threads, reference.attention as NSString, batch,
                         reference.seconds, reference.medianSeconds, Double(n) / reference.seconds,
                         reference.bf16Seconds, Double(n) / reference.bf16Seconds))
            print(String(format: "    same features: fp32 max relative difference %.1e; bf16 (ours against PyTorch's fp32) %.1e, PyTorch's bf16 against its fp32 %.1e",
                         relativeError(features, reference.features), relativeError(bf16Features, reference.features),
                         relativeError(reference.bf16Features, reference.features)))
        }
        let scaling = try threadScaling(model: model, towers: [(.fp32, tower)] + (bf16Tower.map { [(.bf16, $0)] } ?? []), pixels: pixels, count: n)
        var line = String(format: "%@: fp32 %.1f images/s", model.name as NSString, Double(n) / swiftBest)
        if bf16Tower != nil { line += String(format: ", bf16 %.1f images/s (%.2fx fp32)", Double(n) / bf16Best, swiftBest / bf16Best) }
        guard python != nil else {
            print("    PyTorch reference skipped: pass --python /work/pyenv/bin/python (or set LAMM_BENCH_PYTHON)")
            return line + "; " + scaling
        }
        line += String(format: "; PyTorch fp32 %.1f, bf16 autocast %.1f (best of %d rounds each): fp32 %.2fx PyTorch fp32 (target >= 1x)",
                       Double(n) / torchBest, Double(n) / torchBF16Best, rounds, torchBest / swiftBest)
        if bf16Tower != nil { line += String(format: ", bf16 %.2fx PyTorch bf16 (target >= 1.3x)", torchBF16Best / bf16Best) }
        return line + "; " + scaling
    }

    /// 2 x multiply-adds of one image: the patch sgemm, full blocks, the last block (attention
    /// from the class token only, out_proj and MLP on its row) and the projection.
    static func flopsPerImage(_ configuration: CLIPConfiguration) -> Double {
        let v = configuration.vision
        let (w, inner, t) = (Double(v.hiddenSize), Double(v.intermediateSize), Double(v.positionCount))
        let patches = Double(v.gridSize * v.gridSize), patchFloats = Double(v.channels * v.patchSize * v.patchSize)
        let rowProducts = 2 * w * (w + 2 * inner)
        let fullBlock = t * (2 * w * 3 * w + rowProducts) + 4 * t * t * w
        let lastBlock = t * 2 * w * 3 * w + 4 * t * w + rowProducts
        return 2 * patches * patchFloats * w + Double(v.hiddenLayers - 1) * fullBlock + lastBlock
            + 2 * w * Double(configuration.projectionDim)
    }

    /// Images/s at 1 and 2 threads, each precision (one run each).
    func threadScaling(model: Model, towers: [(Precision, VisionTower)], pixels: [Float], count n: Int) throws -> String {
        var parts: [String] = []
        for (precision, tower) in towers {
            var rates: [String] = []
            for threadCount in [1, 2] {
                setBLASThreadCount(threadCount)
                let time = try seconds { _ = try tower.encode(pixels: pixels, count: n) }
                rates.append(String(format: "%.1f", Double(n) / time))
            }
            parts.append("\(precision.rawValue) \(rates[0]) / \(rates[1])")
        }
        setBLASThreadCount(threads)
        return "images/s at 1 / 2 threads: " + parts.joined(separator: ", ")
    }

    struct PyTorchResult {
        var version: String
        var threads: Int
        var attention: String
        var seconds: Double
        var medianSeconds: Double
        var bf16Seconds: Double
        var features: [Float]
        var bf16Features: [Float]
    }

    /// The tower as a Hugging Face directory and the pixels, for Tools/bench_vision_tower.py.
    func writeReferenceInputs(checkpoint: CLIPVisionCheckpoint, pixels: [Float], count: Int, to directory: URL) throws {
        try checkpoint.writeHuggingFace(to: directory.appendingPathComponent("model"))
        let side = checkpoint.configuration.vision.imageSize
        var writer = SafetensorsWriter()
        try writer.add("pixels", floats: pixels, shape: [count, 3, side, side])
        try writer.write(to: directory.appendingPathComponent("pixels.safetensors"))
    }

    func runPyTorch(python: String, directory: URL) throws -> PyTorchResult {
        let pixelsURL = directory.appendingPathComponent("pixels.safetensors")
        let outURL = directory.appendingPathComponent("out.safetensors")
        let json = try runPythonReference(
            python: python, script: "bench_vision_tower.py",
            arguments: ["--model", directory.appendingPathComponent("model").path, "--pixels", pixelsURL.path, "--out", outURL.path,
                        "--batch", "\(batch)", "--repeats", "\(repeats)"],
            threads: threads)
        return PyTorchResult(
            version: json["torch"] as? String ?? "?", threads: json["threads"] as? Int ?? 0,
            attention: json["attention"] as? String ?? "?",
            seconds: json["seconds"] as? Double ?? .nan, medianSeconds: json["median_seconds"] as? Double ?? .nan,
            bf16Seconds: json["bf16_seconds"] as? Double ?? .nan,
            features: try SafetensorsFile(url: outURL).floats("image_embeds"),
            bf16Features: try SafetensorsFile(url: outURL).floats("image_embeds_bf16"))
    }
}
