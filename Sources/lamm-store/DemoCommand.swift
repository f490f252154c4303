import ArgumentParser
import Continual
import Demo
import Foundation
import Kernels
import Methods
import Reports
import Store
import Training

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole flow on an embedded default: a small random CLIP, a synthetic two-stage task, LAMM vs CoOp vs MaPLe.",
        discussion: """
            Writes a small CLIP checkpoint with random weights (Hugging Face layout, with a vocabulary \
            learned on the spot) and a synthetic two-stage task in two forms: image features that sit \
            near shifted label embeddings (dataset demo), and pictures of the same classes that the \
            checkpoint's image tower maps near the same places (dataset demo-images), so zero-shot CLIP \
            is mediocre and learning helps. Then, for each method, adds Set1 and Set2 to a fresh store \
            (MaPLe and MaPLe+LAMM on the pictures only: they train inside the image tower), evaluates the \
            last snapshot and compares the methods: LAMM keeps Set1 exactly as it was, the shared \
            prompts of CoOp and MaPLe forget. Everything goes to --dir (the store demo.sqlite, the \
            checkpoint, the stage files and pictures, and report.html).
            """
    )

    @Option(name: .long, help: ArgumentHelp("Folder for the demo's files.", valueName: "dir"))
    var dir: String = "lamm-demo"

    @Option(name: .long, parsing: .upToNextOption, help: "Methods to run, in order.")
    var methods: [Method] = DemoWorkflow.defaultMethods

    @Option(name: .long, parsing: .unconditional, help: "Seed of the checkpoint, the task and the training.")
    var seed: UInt64 = LAMMConfiguration().seed

    @Option(name: .long, parsing: .unconditional,
            help: "Epochs per stage, for every method.")
    var epochs: Int = LAMMConfiguration().epochs

    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1.") }
        if methods.isEmpty || methods.contains(where: { !DemoWorkflow.defaultMethods.contains($0) }) {
            throw ValidationError("--methods takes \(DemoWorkflow.defaultMethods.map(\.rawValue).joined(separator: ", ")).")
        }
        try requireDistinct(methods, option: "--methods", spelling: \.rawValue)
    }

    func run() throws {
        var configuration = LAMMConfiguration()
        configuration.seed = seed
        var maple = DemoWorkflow.mapleDefaults(seed: seed)
        (configuration.epochs, maple.epochs) = (epochs, epochs)
        let trainingPrecision: Precision? = precision.resolved == .bf16 ? .bf16 : nil
        (configuration.precision, maple.precision) = (trainingPrecision, trainingPrecision)
        let printer = progress.printer(json: output.json)
        let workflow = DemoWorkflow(directory: URL(fileURLWithPath: dir).standardizedFileURL, methods: methods,
                                    configuration: configuration, mapleConfiguration: maple, seed: seed)
        let result = try workflow.run { event in
            switch event {
            case let .message(text): printer.write(text + "\n")
            case .stage(.baseline): break
            case let .stage(event): printer.stage(event)
            }
        }
        if output.json {
            try printJSON(result)
            return
        }
        for evaluation in result.evaluations {
            print("\n\(evaluation.method.rawValue): snapshot \(evaluation.snapshot) evaluated on every stage (task protocol, test split)")
            print(evaluation.text, terminator: "")
        }
        print("")
        print(result.comparison.text, terminator: "")
        print(String(format: "done in %.1fs; ", result.seconds) + "store \(result.store), report \(result.report)")
    }
}
