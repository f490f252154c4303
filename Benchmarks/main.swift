// lamm-bench: timed runs that print ratios against references measured in the same run.
//   swift run -c release lamm-bench text-tower [--python /work/pyenv/bin/python] [--quick]
//   swift run -c release lamm-bench lamm-epoch [--python /work/pyenv/bin/python]
//   swift run -c release lamm-bench vision-tower [--python /work/pyenv/bin/python]
//   swift run -c release lamm-bench maple-step [--python /work/pyenv/bin/python]
//   swift run -c release lamm-bench store

import ArgumentParser
import Foundation

struct LAMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lamm-bench",
        abstract: "Timed runs that print ratios against references measured in the same run.",
        subcommands: [TextTowerCommand.self, LAMMEpochCommand.self, VisionTowerCommand.self, MaPLeStepCommand.self, StoreCommand.self]
    )
}

/// The interpreter that runs a benchmark's PyTorch reference (Tools/bench_*.py).
struct PythonOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A Python with torch and transformers for the PyTorch reference (default: $LAMM_BENCH_PYTHON; without either the reference is skipped).",
                               valueName: "path"))
    var python: String?

    var interpreter: String? { python ?? ProcessInfo.processInfo.environment["LAMM_BENCH_PYTHON"] }
}

struct TextTowerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text-tower",
        abstract: "CLIP ViT-B/16 text tower with random weights: sgemm peak, text features of ImageNet-like prompts, one LAMM training step.",
        discussion: "The same work in PyTorch when --python (or LAMM_BENCH_PYTHON) names an interpreter with torch."
    )

    @OptionGroup var reference: PythonOptions

    @Option(help: "Prompts encoded (default: \(TextTowerBenchmark().promptCount), 200 with --quick).")
    var prompts: Int?

    @Option(help: "Classes of the LAMM training step.")
    var classes = TextTowerBenchmark().classCount

    @Option(help: "Timed repeats (default: \(TextTowerBenchmark().repeats), 2 with --quick).")
    var repeats: Int?

    @Flag(help: "Fewer prompts and repeats.")
    var quick = false

    func validate() throws {
        for (name, value) in [("--prompts", prompts ?? 1), ("--classes", classes), ("--repeats", repeats ?? 1)] where value < 1 {
            throw ValidationError("\(name) must be at least 1.")
        }
    }

    func run() throws {
        let defaults = TextTowerBenchmark()
        try TextTowerBenchmark(python: reference.interpreter, promptCount: prompts ?? (quick ? 200 : defaults.promptCount),
                               classCount: classes, repeats: repeats ?? (quick ? 2 : defaults.repeats)).run()
    }
}

struct LAMMEpochCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lamm-epoch",
        abstract: "One epoch of LAMM training, 50 classes x 16 shots, ViT-B/16 text sizes.",
        discussion: "Against Tools/bench_lamm_epoch.py in PyTorch on the same weights and data (2 threads) when --python is given."
    )

    @OptionGroup var reference: PythonOptions

    @Option(help: "New classes trained.")
    var classes = LAMMEpochBenchmark().classCount

    @Option(help: "Training samples per class.")
    var shots = LAMMEpochBenchmark().shots

    func validate() throws {
        if classes < 1 || shots < 1 { throw ValidationError("--classes and --shots must be at least 1.") }
    }

    func run() throws {
        try LAMMEpochBenchmark(python: reference.interpreter, classCount: classes, shots: shots).run()
    }
}

struct VisionTowerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision-tower",
        abstract: "CLIP ViT-B/32 and ViT-B/16 image towers with random weights: images/s.",
        discussion: "Against transformers on the same weights (2 threads) when --python is given."
    )

    @OptionGroup var reference: PythonOptions

    @Option(help: ArgumentHelp("Only this size.", valueName: "B/32|B/16"))
    var model: String?

    @Option(help: "Images per model (default: 128 at B/32, 48 at B/16; 16 with --quick).")
    var images: Int?

    @Option(help: "Timed runs (default: \(VisionTowerBenchmark().repeats), 1 with --quick).")
    var repeats: Int?

    @Option(help: "Turns of Swift then PyTorch (default: \(VisionTowerBenchmark().rounds), 1 with --quick).")
    var rounds: Int?

    @Option(help: "PyTorch's batch size.")
    var batch = VisionTowerBenchmark().batch

    @Flag(help: "16 images, one run, one round.")
    var quick = false

    func validate() throws {
        for (name, value) in [("--images", images ?? 1), ("--repeats", repeats ?? 1), ("--rounds", rounds ?? 1), ("--batch", batch)] where value < 1 {
            throw ValidationError("\(name) takes a positive number, not \(value).")
        }
        if let model, VisionTowerBenchmark().models(named: model).isEmpty {
            throw ValidationError("--model takes B/32 or B/16, not '\(model)'.")
        }
    }

    func run() throws {
        var benchmark = VisionTowerBenchmark()
        benchmark.python = reference.interpreter
        if let model { benchmark.models = benchmark.models(named: model) }
        if let count = images ?? (quick ? 16 : nil) {
            for i in benchmark.models.indices { benchmark.models[i].imageCount = count }
        }
        benchmark.repeats = repeats ?? (quick ? 1 : benchmark.repeats)
        benchmark.rounds = rounds ?? (quick ? 1 : benchmark.rounds)
        benchmark.batch = batch
        try benchmark.run()
    }
}

struct MaPLeStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maple-step",
        abstract: "One MaPLe training step at ViT-B/16 sizes (4 images, 50 classes, depth 9): steps/s and where the time goes.",
        discussion: "Against Tools/bench_maple_step.py, PyTorch fp32 on the same weights and inputs (2 threads), when --python is given."
    )

    @OptionGroup var reference: PythonOptions

    @Option(help: "Classes whose prompts the step runs.")
    var classes = MaPLeStepBenchmark().classCount

    @Option(help: "Images in the batch.")
    var images = MaPLeStepBenchmark().imageCount

    @Option(help: "Timed steps per round.")
    var repeats = MaPLeStepBenchmark().repeats

    @Option(help: "Turns of Swift then PyTorch.")
    var rounds = MaPLeStepBenchmark().rounds

    func validate() throws {
        for (name, value) in [("--classes", classes), ("--images", images), ("--repeats", repeats), ("--rounds", rounds)] where value < 1 {
            throw ValidationError("\(name) takes a positive number, not \(value).")
        }
    }

    func run() throws {
        try MaPLeStepBenchmark(python: reference.interpreter, classCount: classes, imageCount: images, repeats: repeats, rounds: rounds).run()
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "What a stage costs the store: 1,000 classes x 20 samples x 512-d, then +10-class stages, per class; +10 on a larger store; reading a snapshot 20 stages deep against 2.",
        discussion: "Every ratio is against a reference measured in the same run, on the same backend."
    )

    @Option(help: ArgumentHelp("A PostgreSQL store to measure beside SQLite (postgres://user@host:port/database; an empty database or a lamm-store).",
                               valueName: "url"))
    var db: String?

    @Option(help: "Classes of the larger store the +10 stages are also added to (one sample each); 1000 for none.")
    var classes = 1000

    @Option(help: "The +10 stages measured (their median is reported).")
    var repeats = 5

    @Option(help: "Stages of the deep lineage whose label rows are read.")
    var depth = 20

    func validate() throws {
        guard classes >= 1000 else { throw ValidationError("--classes must be at least 1000 (the reference store's size).") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1.") }
        guard (3...1000).contains(depth) else { throw ValidationError("--depth must be between 3 and 1000.") }
    }

    func run() throws {
        try StoreBenchmark(classes: classes, repeats: repeats, depth: depth, postgres: db).run()
    }
}

extension VisionTowerBenchmark {
    /// The sizes `--model` names: B/32, ViT-B/32, b/16, ...
    func models(named name: String) -> [Model] {
        models.filter { $0.name.lowercased().hasSuffix(name.lowercased()) || $0.name.lowercased() == name.lowercased() }
    }
}

LAMMBench.main()
