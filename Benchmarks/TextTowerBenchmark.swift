// `lamm-bench text-tower`: the native CLIP text tower at ViT-B/16 text sizes with random
// weights, against sgemm's throughput on the same machine and against PyTorch doing the same
// work (Tools/bench_text_tower.py) on the same weights, everything on 2 threads.

import CLIP
import Formats
import Foundation
import Kernels

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}

struct TextTowerBenchmark {
    var python: String?
    var promptCount = 1000
    var classCount = 50
    var repeats = 5
    var threads = 2

    func run() throws {
        setBLASThreadCount(threads)
        print("text-tower benchmark: CLIP ViT-B/16 text sizes (width 512, 12 layers, 8 heads, 77 positions, vocab 49408), random weights")
        print("OpenBLAS threads: \(blasThreadCount()), cores: \(ProcessInfo.processInfo.activeProcessorCount)")

        let firstPeak = measureSGEMM()

        let configuration = CLIPConfiguration()
        let start = Date()
        let checkpoint = CLIPCheckpoint.random(configuration: configuration, seed: 2024)
        let tower = TextTower(checkpoint)
        print(String(format: "random weights: %.1f s", Date().timeIntervalSince(start)))

        // (2) Text features of ImageNet-like prompts.
        var rng = SplitMix64(seed: 7)
        let classes = (0..<promptCount).map { _ in ImageNetLikePrompts.classTokens(&rng) }
        let encodeIDs = classes.map { ImageNetLikePrompts.tokenIDs(classTokens: $0) }
        var encodeStatistics = TextTowerStatistics()
        var encodeFeatures: [Float] = []
        let encode = try timedAgainstSGEMM(runs: max(2, repeats / 2)) {
            var statistics = TextTowerStatistics()
            encodeFeatures = try tower.encode(tokenIDs: encodeIDs, statistics: &statistics)
            encodeStatistics = statistics
            return statistics.totalFLOPs
        }
        let meanLength = Double(encodeIDs.map(\.count).reduce(0, +)) / Double(promptCount)
        print("")
        print("(2) text features of \(promptCount) prompts `a photo of a <class>.` (mean \(String(format: "%.2f", meanLength)) tokens up to EOT)")
        print(String(format: "    packed rows %d (shared prefix once per chunk), %.1f GFLOP (%.1f sgemm + %.2f attention)",
                     encodeStatistics.packedRows, encodeStatistics.totalFLOPs / 1e9, encodeStatistics.sgemmFLOPs / 1e9,
                     encodeStatistics.attentionFLOPs / 1e9))
        print(String(format: "    best %.3f s (median %.3f s of %d): %.0f prompts/s, %.1f GFLOP/s",
                     encode.best, encode.median, encode.runs, Double(promptCount) / encode.best, encode.bestGFLOPs))
        print(String(format: "    %.0f%% of sgemm peak (median of runs, each against sgemm measured right before and after; range %.0f-%.0f%%)",
                     100 * encode.ratio, 100 * encode.ratioRange.lowerBound, 100 * encode.ratioRange.upperBound))

        // (3) One training step over the label rows of `classCount` classes.
        let trainClasses = Array(classes.prefix(classCount))
        var prompts: [PromptRows] = [], vectors: [Float] = []
        var trainIDs: [[Int]] = [], trainable: [[Bool]] = []
        for tokens in trainClasses {
            let ids = ImageNetLikePrompts.tokenIDs(classTokens: tokens)
            var rows: [PromptRow] = [], flags: [Bool] = []
            for (position, id) in ids.enumerated() {
                let isLabel = position >= ImageNetLikePrompts.prefix.count && position < ImageNetLikePrompts.prefix.count + tokens.count
                flags.append(isLabel)
                if isLabel {
                    rows.append(.vector(index: vectors.count / 512))
                    vectors += checkpoint.tokenEmbedding(row: id)
                } else {
                    rows.append(.token(id))
                }
            }
            prompts.append(PromptRows(rows))
            trainIDs.append(ids)
            trainable.append(flags)
        }
        let lossWeights = (0..<(classCount * configuration.projectionDim)).map { _ in rng.nextGaussian() }
        var trainState: TextForwardState?
        var gradient: [Float] = []
        var forwardTimes: [Double] = [], backwardTimes: [Double] = []
        let step = try timedAgainstSGEMM(runs: repeats) {
            forwardTimes.append(try seconds { trainState = try tower.forward(prompts, vectors: vectors) })
            backwardTimes.append(try seconds { gradient = try tower.backward(trainState!, dNormalizedFeatures: lossWeights) })
            return trainState!.statistics.totalFLOPs + tower.backwardStatistics(trainState!).totalFLOPs
        }
        let forwardWork = trainState!.statistics, backwardWork = tower.backwardStatistics(trainState!)
        print("")
        print("(3) training step: \(classCount) prompts, \(vectors.count / 512) trainable label rows, forward + backward to the label rows")
        print(String(format: "    forward %d packed rows, backward %d rows; %.2f + %.2f GFLOP",
                     forwardWork.packedRows, backwardWork.packedRows, forwardWork.totalFLOPs / 1e9, backwardWork.totalFLOPs / 1e9))
        print(String(format: "    best step %.1f ms (forward %.1f + backward %.1f ms; median step %.1f ms of %d): %.1f GFLOP/s, %.0f%% of sgemm peak (median ratio)",
                     1000 * step.best, 1000 * forwardTimes.min()!, 1000 * backwardTimes.min()!, 1000 * step.median, step.runs,
                     step.bestGFLOPs, 100 * step.ratio))

        // (3b) The same step in bf16 (fp32 accumulation), against fp32 in this run.
        let bf16Peak = BF16Support.isAvailable ? measureBF16GEMM() : nil
        var bf16: (step: Timing, agreement: Double, forward: Double, backward: Double)?
        if let bf16Peak {
            let bf16Tower = TextTower(checkpoint, precision: .bf16)
            var state: TextForwardState?, bf16Gradient: [Float] = []
            var forwardTimes: [Double] = [], backwardTimes: [Double] = []
            let timing = try timedAgainstSGEMM(runs: repeats) {
                forwardTimes.append(try seconds { state = try bf16Tower.forward(prompts, vectors: vectors) })
                backwardTimes.append(try seconds { bf16Gradient = try bf16Tower.backward(state!, dNormalizedFeatures: lossWeights) })
                return state!.statistics.totalFLOPs + bf16Tower.backwardStatistics(state!).totalFLOPs
            }
            bf16 = (timing, relativeError(bf16Gradient, gradient), forwardTimes.min()!, backwardTimes.min()!)
            print("")
            print("(3b) the same step in bf16 (\(BF16Support.instructionSet), oneDNN; fp32 accumulation, LayerNorm, attention and softmax)")
            print(String(format: "    best step %.1f ms (forward %.1f + backward %.1f ms; median %.1f ms of %d): %.1f GFLOP/s, %.0f%% of the bf16 GEMM peak (%.1f GFLOP/s)",
                         1000 * timing.best, 1000 * forwardTimes.min()!, 1000 * backwardTimes.min()!, 1000 * timing.median, timing.runs,
                         timing.bestGFLOPs, 100 * timing.bestGFLOPs / bf16Peak, bf16Peak))
            print(String(format: "    label-row gradient against fp32's: max relative difference %.1e", bf16.map(\.agreement) ?? .nan))
        } else {
            print("")
            print("(3b) bf16 skipped: this CPU has no bf16 instructions (oneDNN finds \(BF16Support.instructionSet))")
        }

        // (3c) Thread scaling: steps/s at 1 and 2 threads, each precision.
        print("")
        print("(3c) training steps/s by threads (best of \(max(1, repeats / 2)))")
        let scalingTowers = [(Precision.fp32, tower)] + (bf16 != nil ? [(Precision.bf16, TextTower(checkpoint, precision: .bf16))] : [])
        for (precision, scalingTower) in scalingTowers {
            var line = "    \(precision.rawValue):"
            for threadCount in [1, 2] {
                setBLASThreadCount(threadCount)
                let best = try (0..<max(1, repeats / 2)).map { _ in
                    try seconds {
                        let state = try scalingTower.forward(prompts, vectors: vectors)
                        _ = try scalingTower.backward(state, dNormalizedFeatures: lossWeights)
                    }
                }.min()!
                line += String(format: "  %d thread%@ %.3f steps/s", threadCount, threadCount == 1 ? "" : "s", 1 / best)
            }
            print(line)
        }
        setBLASThreadCount(threads)

        // (4) PyTorch on the same weights.
        print("")
        func summary() {
            print("")
            print(String(format: "sgemm: %.1f GFLOP/s (block mix, first measurement)", firstPeak))
            if let bf16Peak { print(String(format: "bf16 GEMM: %.1f GFLOP/s (block mix, oneDNN)", bf16Peak)) }
            print(String(format: "forward: %.0f%% of sgemm peak (target >= 50%%)", 100 * encode.ratio))
            if let bf16 { print(String(format: "training step bf16: %.2fx its own fp32 (best against best; target >= 1.7x)", step.best / bf16.step.best)) }
        }
        guard let python else {
            print("(4) PyTorch reference skipped: pass --python /work/pyenv/bin/python (or set LAMM_BENCH_PYTHON)")
            summary()
            return
        }
        let reference = try runPyTorch(
            python: python, checkpoint: checkpoint, encodeIDs: encodeIDs, trainIDs: trainIDs, trainable: trainable,
            vectors: vectors, lossWeights: lossWeights)
        let encodeAgreement = relativeError(encodeFeatures, reference.features)
        let gradientAgreement = relativeError(gradient, reference.gradient)
        print("(4) PyTorch \(reference.version), \(reference.threads) threads, transformers CLIPTextModelWithProjection")
        print(String(format: "    text features (77 positions): %.3f s (%.0f prompts/s)", reference.encodeSeconds, Double(promptCount) / reference.encodeSeconds))
        print(String(format: "    training step, 77 positions fp32: best %.1f ms", 1000 * reference.trainSeconds))
        print(String(format: "    training step, batched prompts truncated to the longest (%d positions), fp32: best %.1f ms; bf16 autocast: best %.1f ms",
                     reference.truncatedLength, 1000 * reference.truncatedSeconds, 1000 * reference.bf16Seconds))
        print(String(format: "    peak memory of the process (max RSS): %.0f MB", reference.maxRSSMegabytes))
        print(String(format: "    same results: features max relative difference %.1e, label-row gradient %.1e (truncated fp32 %.1e, bf16 %.1e)",
                     encodeAgreement, gradientAgreement, relativeError(gradient, reference.truncatedGradient),
                     relativeError(gradient, reference.bf16Gradient)))
        summary()
        print(String(format: "text features: %.1fx PyTorch (best against best)", reference.encodeSeconds / encode.best))
        print(String(format: "training step: %.1fx PyTorch 77 positions, %.1fx PyTorch truncated fp32 (best against best)",
                     reference.trainSeconds / step.best, reference.truncatedSeconds / step.best))
        if let bf16 {
            print(String(format: "training step bf16: %.2fx PyTorch's bf16 batched step (best against best; target >= 4x)", reference.bf16Seconds / bf16.step.best))
        }
    }

    struct Timing {
        var runs: Int
        var best: Double
        var median: Double
        var bestGFLOPs: Double
        /// Median over runs of (work / time) / (sgemm GFLOP/s measured right before and after).
        var ratio: Double
        var ratioRange: ClosedRange<Double>
    }

    /// Times `body` (which returns the FLOPs it did) `runs` times, each between two short sgemm
    /// measurements: on a shared machine the speed available changes from second to second, so
    /// each run is compared with sgemm at that moment.
    func timedAgainstSGEMM(runs: Int, _ body: () throws -> Double) throws -> Timing {
        var times: [Double] = [], ratios: [Double] = [], flops = 0.0
        var before = measureSGEMM(verbose: false)
        for _ in 0..<runs {
            let time = try seconds { flops = try body() }
            let after = measureSGEMM(verbose: false)
            times.append(time)
            ratios.append(flops / time / 1e9 / ((before + after) / 2))
            before = after
        }
        return Timing(runs: runs, best: times.min()!, median: median(times), bestGFLOPs: flops / times.min()! / 1e9,
                      ratio: median(ratios), ratioRange: ratios.min()!...ratios.max()!)
    }

    /// (1) sgemm throughput at the text tower's shapes: [rows, 512] x the weights of one block;
    /// returns the GFLOP/s of one block's mix of products.
    func measureSGEMM(verbose: Bool = true) -> Double {
        if verbose {
            print("")
            print("(1) sgemm (OpenBLAS, row-major, weights transposed as in matmulForward), rows = \(SGEMMProbe.shared.rows)")
        }
        var best = 0.0, totalFLOPs = 0.0, totalSeconds = 0.0
        for product in SGEMMProbe.shared.products {
            let (n, c, oc) = (SGEMMProbe.shared.rows, product.c, product.oc)
            let reps = verbose ? 10 : 2
            let time = seconds {
                for _ in 0..<reps {
                    matmulForward(out: product.out.pointer, inp: product.input.pointer, weight: product.weight.pointer,
                                  bias: nil, n: n, c: c, oc: oc)
                }
            }
            let flops = 2.0 * Double(n * c * oc) * Double(reps)
            best = max(best, flops / time / 1e9)
            totalFLOPs += flops
            totalSeconds += time
            if verbose {
                print(String(format: "    %-8@ [%d, %d] x [%d, %d]^T: %.1f GFLOP/s", product.name as NSString, n, c, oc, c, flops / time / 1e9))
            }
        }
        if verbose {
            print(String(format: "    one block's mix: %.1f GFLOP/s (the peak used below); best shape %.1f GFLOP/s", totalFLOPs / totalSeconds / 1e9, best))
        }
        return totalFLOPs / totalSeconds / 1e9
    }

    /// The same block mix of products in bf16 through oneDNN (weights converted once, inputs
    /// rounded per call, as the towers do): the peak the bf16 step is measured against.
    func measureBF16GEMM() -> Double {
        print("")
        print("(1b) bf16 GEMM (oneDNN \(BF16Support.instructionSet), fp32 accumulation), rows = \(SGEMMProbe.shared.rows)")
        var totalFLOPs = 0.0, totalSeconds = 0.0
        for product in SGEMMProbe.shared.products {
            let (n, c, oc) = (SGEMMProbe.shared.rows, product.c, product.oc)
            let weight = BF16Matrix(product.weight.array, rows: oc, columns: c)
            matmulForward(out: product.out.pointer, inp: product.input.pointer, weight: weight, bias: nil, n: n)
            let reps = 10
            let time = seconds {
                for _ in 0..<reps { matmulForward(out: product.out.pointer, inp: product.input.pointer, weight: weight, bias: nil, n: n) }
            }
            let flops = 2.0 * Double(n * c * oc) * Double(reps)
            totalFLOPs += flops
            totalSeconds += time
            print(String(format: "    %-8@ [%d, %d] x [%d, %d]^T: %.1f GFLOP/s", product.name as NSString, n, c, oc, c, flops / time / 1e9))
        }
        print(String(format: "    one block's mix: %.1f GFLOP/s", totalFLOPs / totalSeconds / 1e9))
        return totalFLOPs / totalSeconds / 1e9
    }

    struct PyTorchResult {
        var version: String
        var threads: Int
        var encodeSeconds: Double
        var trainSeconds: Double
        var truncatedSeconds: Double
        var truncatedLength: Int
        var bf16Seconds: Double
        var maxRSSMegabytes: Double
        var features: [Float]
        var gradient: [Float]
        var truncatedGradient: [Float]
        var bf16Gradient: [Float]
    }

    func runPyTorch(
        python: String, checkpoint: CLIPCheckpoint, encodeIDs: [[Int]], trainIDs: [[Int]], trainable: [[Bool]],
        vectors: [Float], lossWeights: [Float]
    ) throws -> PyTorchResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try checkpoint.writeHuggingFace(to: directory.appendingPathComponent("model"))
        let length = checkpoint.configuration.text.maxPositions
        let eotID = ImageNetLikePrompts.endOfText
        // Padded with EOT after EOT, as CLIPTokenizer(padding="max_length") does.
        func padded(_ ids: [[Int]]) -> [Int] { ids.flatMap { $0 + [Int](repeating: eotID, count: length - $0.count) } }
        var writer = SafetensorsWriter()
        try writer.add("encode_ids", integers: padded(encodeIDs), shape: [encodeIDs.count, length], as: .i32)
        try writer.add("train_ids", integers: padded(trainIDs), shape: [trainIDs.count, length], as: .i32)
        try writer.add("train_eot", integers: trainIDs.map { $0.count - 1 }, shape: [trainIDs.count], as: .i32)
        try writer.add("train_trainable", integers: trainable.flatMap { $0.map { $0 ? 1 : 0 } + [Int](repeating: 0, count: length - $0.count) },
                       shape: [trainIDs.count, length], as: .u8)
        try writer.add("train_vectors", floats: vectors, shape: [vectors.count / 512, 512])
        try writer.add("train_weights", floats: lossWeights, shape: [trainIDs.count, lossWeights.count / trainIDs.count])
        let promptsURL = directory.appendingPathComponent("prompts.safetensors")
        let outURL = directory.appendingPathComponent("out.safetensors")
        try writer.write(to: promptsURL)

        let json = try runPythonReference(python: python, script: "bench_text_tower.py",
                                          arguments: ["--model", directory.appendingPathComponent("model").path,
                                                      "--prompts", promptsURL.path, "--out", outURL.path],
                                          threads: threads)
        let out = try SafetensorsFile(url: outURL)
        return PyTorchResult(
            version: json["torch"] as? String ?? "?", threads: json["threads"] as? Int ?? 0,
            encodeSeconds: json["encode_seconds"] as? Double ?? .nan, trainSeconds: json["train_step_seconds"] as? Double ?? .nan,
            truncatedSeconds: json["train_step_truncated_seconds"] as? Double ?? .nan,
            truncatedLength: json["truncated_length"] as? Int ?? 0,
            bf16Seconds: json["train_step_bf16_seconds"] as? Double ?? .nan,
            maxRSSMegabytes: json["max_rss_mb"] as? Double ?? .nan,
            features: try out.floats("text_embeds"), gradient: try out.floats("grad_label_rows"),
            truncatedGradient: try out.floats("grad_label_rows_truncated"), bf16Gradient: try out.floats("grad_label_rows_bf16"))
    }
}

/// Operands of the sgemm measurements, made once: the products of one text-tower block.
final class SGEMMProbe: Sendable {
    struct Product: Sendable {
        var name: String
        var c: Int
        var oc: Int
        var input: FloatBuffer
        var weight: FloatBuffer
        var out: FloatBuffer
    }

    static let shared = SGEMMProbe()
    let rows = 2560
    let products: [Product]

    init() {
        var rng = SplitMix64(seed: 1)
        products = [(512, 1536, "qkv"), (512, 512, "out_proj"), (512, 2048, "fc1"), (2048, 512, "fc2")].map { c, oc, name in
            Product(name: name, c: c, oc: oc,
                    input: FloatBuffer((0..<(2560 * c)).map { _ in rng.nextGaussian() }),
                    weight: FloatBuffer((0..<(oc * c)).map { _ in 0.02 * rng.nextGaussian() }),
                    out: FloatBuffer(count: 2560 * oc))
        }
    }
}

/// Prompts shaped like CoOp's ImageNet template `a photo of a <class>.` with CLIP's token ids
/// for the template and random ids for class names of 1-6 tokens.
enum ImageNetLikePrompts {
    static let startOfText = 49406, endOfText = 49407
    /// <|startoftext|> a photo of a
    static let prefix = [49406, 320, 1125, 539, 320]
    static let period = 269
    /// Class-name lengths in tokens and their weights (mean about 2.3 tokens).
    static let lengths: [(Int, Double)] = [(1, 0.35), (2, 0.30), (3, 0.18), (4, 0.10), (5, 0.05), (6, 0.02)]

    static func classTokens(_ rng: inout SplitMix64) -> [Int] {
        var u = Double(rng.next() >> 11) / Double(1 << 53)
        var length = 1
        for (l, weight) in lengths {
            length = l
            u -= weight
            if u < 0 { break }
        }
        return (0..<length).map { _ in 1000 + Int(rng.next() % 48000) }
    }

    static func tokenIDs(classTokens: [Int]) -> [Int] { prefix + classTokens + [period, endOfText] }
}

/// Wall-clock seconds of `body`.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// max |a - b| / max |b|.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count, let scale = b.map({ abs($0) }).max(), scale > 0 else { return .infinity }
    return Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0) / Double(scale)
}
