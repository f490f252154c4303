import ArgumentParser
import Continual
import Demo
import Foundation
import Reports
import Store
import Training

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole flow on an embedded default: a small random CLIP, a synthetic two-stage task, LAMM vs CoOp.",
        discussion: """
            Writes a small CLIP checkpoint with random weights (Hugging Face layout, with a vocabulary \
            learned on the spot) and a synthetic two-stage task whose image features sit near shifted \
            label embeddings, so zero-shot CLIP is mediocre and label alignment helps. Then, for each \
            method, adds Set1 and Set2 to a fresh store, evaluates the last snapshot and compares the \
            methods: LAMM keeps Set1 exactly as it was, CoOp's shared context forgets. Everything goes \
            to --dir (the store demo.sqlite, the checkpoint, the stage files and report.html).
            """
    )

    @Option(name: .long, help: ArgumentHelp("Folder for the demo's files.", valueName: "dir"))
    var dir: String = "lamm-demo"

    @Option(name: .long, parsing: .upToNextOption, help: "Methods to run, in order.")
    var methods: [Method] = Trainer.methods

    @Option(name: .long, parsing: .unconditional, help: "Seed of the checkpoint, the task and the training.")
    var seed: UInt64 = LAMMConfiguration().seed

    @Option(name: .long, parsing: .unconditional, help: "Epochs per stage.")
    var epochs: Int = LAMMConfiguration().epochs

    @OptionGroup var progress: ProgressOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1.") }
        if methods.isEmpty || methods.contains(where: { !Trainer.methods.contains($0) }) {
            throw ValidationError("--methods takes \(Trainer.methods.map(\.rawValue).joined(separator: ", ")).")
        }
    }

    func run() throws {
        var configuration = LAMMConfiguration()
        configuration.epochs = epochs
        configuration.seed = seed
        let printer = progress.printer(json: output.json)
        let workflow = DemoWorkflow(directory: URL(fileURLWithPath: dir).standardizedFileURL, methods: methods,
                                    configuration: configuration, seed: seed)
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
