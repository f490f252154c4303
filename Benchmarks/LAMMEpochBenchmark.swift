// One epoch of LAMM training (LAMM.md: the hierarchical loss, SGD, batch 32) on 50 new classes x
// 16 shots at the real ViT-B/16 text sizes with random weights, against the same work in PyTorch
// (Tools/bench_lamm_epoch.py) on the same weights and data, both on 2 threads.
//   swift run -c release lamm-bench lamm-epoch [--python /work/pyenv/bin/python] [--classes 50] [--shots 16]

import CLIP
import Foundation
import Formats
import Kernels
import Training

struct LAMMEpochBenchmark {
    var python: String?
    var classCount = 50
    var shots = 16
    var threads = 2

    func run() throws {
        setBLASThreadCount(threads)
        print("lamm-epoch benchmark: \(classCount) classes x \(shots) shots, batch 32, ViT-B/16 text sizes, random weights, \(threads) threads")
        let checkpoint = CLIPCheckpoint.random(configuration: CLIPConfiguration(), seed: 2024)
        let tower = TextTower(checkpoint)
        let template = PromptTemplate(startOfText: ImageNetLikePrompts.startOfText, endOfText: ImageNetLikePrompts.endOfText,
                                      prefix: Array(ImageNetLikePrompts.prefix.dropFirst()), suffix: [ImageNetLikePrompts.period])
        var rng = SplitMix64(seed: 11)
        let labels = (0..<classCount).map { ClassLabel(name: "class\($0)", tokenIDs: ImageNetLikePrompts.classTokens(&rng)) }
        let d = checkpoint.configuration.projectionDim
        let clip = try tower.encode(tokenIDs: labels.map { template.tokenIDs(label: $0.tokenIDs) }, normalized: true)
        // Image features near their class's CLIP text feature.
        var images: [Float] = [], classes: [Int] = []
        for c in 0..<classCount {
            for _ in 0..<shots {
                images += (0..<d).map { clip[c * d + $0] + 0.05 * rng.nextGaussian() }
                classes.append(c)
            }
        }
        let task = TrainingTask(classes: labels.enumerated().map { LabelClass(label: $1, source: .trained, clipTextFeature: Array(clip[($0 * d)..<(($0 + 1) * d)])) },
                                images: .features(l2Normalize(images, rows: classes.count, columns: d).out), labels: classes, shots: shots)
        var configuration = LAMMConfiguration()
        configuration.epochs = 1
        configuration.warmupEpochs = 0   // the reference runs SGD at a constant rate
        let trainer = Trainer(checkpoint: checkpoint, text: tower, template: template, configuration: configuration)
        var result: TrainingResult?
        var times: [Double] = []
        for _ in 0..<3 { times.append(try seconds { result = try trainer.train(task) }) }
        let swiftBest = times.min()!
        print(String(format: "lamm-store: %d steps in best %.2f s (median %.2f s of 3), %.1f ms/step; final loss %.4f",
                     result!.steps, swiftBest, median(times), 1000 * swiftBest / Double(result!.steps), result!.lossCurve[0].terms.total))
        guard let python else {
            print("PyTorch reference skipped: pass --python /work/pyenv/bin/python (or set LAMM_BENCH_PYTHON)")
            return
        }
        let reference = try runPyTorch(python: python, checkpoint: checkpoint, template: template, labels: labels,
                                       images: images, classes: classes, configuration: configuration)
        print("PyTorch \(reference.version): " + String(format: "%d steps in %.2f s, %.1f ms/step, %d threads; final loss %.4f",
                     reference.steps, reference.seconds, 1000 * reference.seconds / Double(reference.steps),
                     reference.threads, reference.finalLoss))
        print(String(format: "epoch: %.1fx PyTorch (best against PyTorch's run; target >= 2x)", reference.seconds / swiftBest))
    }

    struct Reference { var version: String; var threads: Int; var seconds: Double; var steps: Int; var finalLoss: Double }

    func runPyTorch(python: String, checkpoint: CLIPCheckpoint, template: PromptTemplate, labels: [ClassLabel],
                    images: [Float], classes: [Int], configuration: LAMMConfiguration) throws -> Reference {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try checkpoint.writeHuggingFace(to: directory.appendingPathComponent("model"))
        let length = checkpoint.configuration.text.maxPositions
        let ids = labels.map { template.tokenIDs(label: $0.tokenIDs) }
        let weights = configuration.lossWeights(shots: shots)
        var writer = SafetensorsWriter()
        try writer.add("prompt_ids", integers: ids.flatMap { $0 + [Int](repeating: template.endOfText, count: length - $0.count) },
                       shape: [ids.count, length], as: .i32)
        try writer.add("eot", integers: ids.map { $0.count - 1 }, shape: [ids.count], as: .i32)
        try writer.add("label_start", integers: labels.map { _ in template.labelStart }, shape: [labels.count], as: .i32)
        try writer.add("label_len", integers: labels.map(\.tokenIDs.count), shape: [labels.count], as: .i32)
        let initial = labels.flatMap { $0.tokenIDs.flatMap { checkpoint.tokenEmbedding(row: $0) } }
        try writer.add("label_init", floats: initial, shape: [initial.count / 512, 512])
        try writer.add("image_features", floats: images, shape: [classes.count, images.count / classes.count])
        try writer.add("labels", integers: classes, shape: [classes.count], as: .i32)
        try writer.add("logit_scale", floats: [checkpoint.logLogitScale], shape: [1])
        try writer.add("shots", integers: [shots], shape: [1], as: .i32)
        try writer.add("lambdas", floats: [weights.wc, weights.cos, weights.kd], shape: [3])
        try writer.add("temperature", floats: [weights.temperature], shape: [1])
        try writer.add("batch_size", integers: [configuration.batchSize], shape: [1], as: .i32)
        try writer.add("lr", floats: [configuration.learningRate], shape: [1])
        try writer.add("momentum", floats: [configuration.momentum], shape: [1])
        try writer.add("weight_decay", floats: [configuration.weightDecay], shape: [1])
        try writer.add("seed", integers: [1], shape: [1], as: .i32)
        let data = directory.appendingPathComponent("data.safetensors")
        try writer.write(to: data)
        let json = try runPythonReference(python: python, script: "bench_lamm_epoch.py",
                                          arguments: ["--model", directory.appendingPathComponent("model").path, "--data", data.path],
                                          threads: threads)
        return Reference(version: json["torch"] as? String ?? "?", threads: json["threads"] as? Int ?? 0,
                         seconds: json["seconds"] as? Double ?? .nan, steps: json["steps"] as? Int ?? 0,
                         finalLoss: json["final_loss"] as? Double ?? .nan)
    }
}
