import ArgumentParser
import Continual
import Foundation
import Reports
import Store

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a snapshot on every stage of its dataset up to its own.",
        discussion: """
            For each stage: the snapshot's accuracy, zero-shot CLIP's on the same rows, the accuracy \
            the stage had in the snapshot that trained it, and the degradation (the difference; 0 means \
            nothing was forgotten). Percentages 0-100. Every evaluation is stored. With --dataset, the \
            snapshot must belong to that dataset (a check against evaluating the wrong one).
            """
    )

    @Option(name: .long, parsing: .unconditional, help: "The snapshot id (see `lamm-store snapshots`).")
    var snapshot: Int64

    @OptionGroup var dataset: DatasetOptions
    @OptionGroup var options: EvaluationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let evaluation = try store.withStore(.read) { labelStore in
            let summary = try labelStore.snapshotSummary(snapshot)
            if let dataset = dataset.name, dataset != summary.dataset {
                _ = try labelStore.resolveDataset(dataset)
                throw StoreError.snapshotOfAnotherDataset(id: snapshot, dataset: summary.dataset, requested: dataset)
            }
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            return try session.evaluate(snapshot: snapshot, split: options.split, protocol: options.labelSpace.protocol)
        }
        if output.json {
            try printJSON(evaluation)
            return
        }
        print("snapshot \(evaluation.snapshot): dataset '\(evaluation.dataset)', method \(evaluation.method.rawValue), "
              + "protocol \(evaluation.protocol.rawValue), split \(evaluation.split.rawValue)")
        print(evaluation.text, terminator: "")
        if !evaluation.stored {
            FileHandle.standardError.write(Data("note: the results were not stored (the store is read-only, or another process is writing it)\n".utf8))
        }
    }
}
