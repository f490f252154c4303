import ArgumentParser
import Continual
import Formats
import Foundation
import Methods
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
            snapshot must belong to that dataset (a check against evaluating the wrong one). \
            With --on DATASET[:STAGE], the snapshot's label rows are scored on another dataset's stages \
            (or one stage) instead, their classes matched by name (the paper's Table 1: ImageNet to \
            ImageNet-V2 and -Sketch): each stage among its matched classes, beside zero-shot CLIP on the \
            same rows; the classes with no match are listed and their rows left out. Stored; `compare` \
            shows them with the paper's Table 1 cells. \
            With --on-new DATASET:STAGE, base-to-new generalisation (as CoCoOp and MaPLe report it): the \
            snapshot's accuracy on the classes it trained (base, all of them in one label space) and on \
            the stage's classes, which it has not trained (new, among themselves), and their harmonic \
            mean, each beside zero-shot CLIP. New classes take what the method gives an unseen class: \
            LAMM, CLIP's words under its template; CoOp and MaPLe, their context (and deep prompts) around \
            the class names. The stage is a later one of the snapshot's dataset or another dataset's, and \
            none of its classes may be one the snapshot trained. Stored; `compare` shows base, new and HM.
            """
    )

    @Option(name: .customLong("snapshot"), parsing: .unconditional, help: "The snapshot: its id (see `lamm-store snapshots`) or a name it has (`lamm-store tag`).")
    var snapshotReference: SnapshotReference

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .long, help: ArgumentHelp("Evaluate on another dataset's stages (or one), classes matched by name.", valueName: "DATASET[:STAGE]"), transform: Names.normalised)
    var on: String?

    @Option(name: .customLong("on-new"), help: ArgumentHelp("Base-to-new: score the snapshot on a stage of classes it has not trained.", valueName: "DATASET:STAGE"), transform: Names.normalised)
    var onNew: String?

    @OptionGroup var options: EvaluationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        if let on { return try runCross(on) }
        if let onNew { return try runBaseToNew(onNew) }
        let evaluation = try store.withStore(.read) { labelStore in
            let snapshot = try labelStore.resolveSnapshot(snapshotReference)
            let summary = try labelStore.snapshotSummary(snapshot)
            if let dataset = dataset.name, dataset != summary.dataset {
                _ = try labelStore.resolveDataset(dataset)
                throw StoreError.snapshotOfAnotherDataset(id: snapshot, dataset: summary.dataset, requested: dataset)
            }
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            return try session.evaluator.evaluate(snapshot: snapshot, split: options.split, protocol: options.labelSpace.protocol)
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

    func validate() throws {
        if on != nil, options.labelSpace.protocol != .task {
            throw ValidationError("--on scores each stage among its matched classes (the task protocol); leave out --protocol class.")
        }
        if onNew != nil, on != nil {
            throw ValidationError("--on and --on-new are two evaluations; give one of them.")
        }
        if onNew != nil, options.labelSpace.protocol != .task {
            throw ValidationError("--on-new scores base classes among all of them and new classes among themselves; leave out --protocol.")
        }
    }

    func runCross(_ on: String) throws {
        let evaluation = try store.withStore(.read) { labelStore in
            let snapshot = try labelStore.resolveSnapshot(snapshotReference)
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            let (dataset, stage) = try session.evaluator.crossTarget(on)
            return try session.evaluator.evaluate(snapshot: snapshot, on: dataset, stage: stage, split: options.split)
        }
        if output.json {
            try printJSON(evaluation)
            return
        }
        print("snapshot \(evaluation.snapshot) (dataset '\(evaluation.dataset)', method \(evaluation.method.rawValue)) on dataset "
              + "'\(evaluation.on)', split \(evaluation.split.rawValue), classes matched by name")
        printTable(["stage", "accuracy", "zero-shot", "correct/total", "matched classes", "unmatched classes"], evaluation.stages.map {
            [$0.stage, $0.accuracy.map { String(format: "%.2f", $0) } ?? "-", $0.baseline.map { String(format: "%.2f", $0) } ?? "-",
             "\($0.correct)/\($0.total)", "\($0.matchedClasses)",
             $0.unmatchedClasses.isEmpty ? "-" : "\($0.unmatchedClasses.count): " + $0.unmatchedClasses.prefix(5).joined(separator: ", ")
                + ($0.unmatchedClasses.count > 5 ? ", ..." : "")]
        })
        if !evaluation.stored {
            FileHandle.standardError.write(Data("note: the results were not stored (the store is read-only, or another process is writing it)\n".utf8))
        }
    }

    func runBaseToNew(_ target: String) throws {
        let evaluation = try store.withStore(.read) { labelStore in
            let snapshot = try labelStore.resolveSnapshot(snapshotReference)
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            let (dataset, stage) = try session.evaluator.newStageTarget(target)
            return try session.evaluator.evaluateBaseToNew(snapshot: snapshot, on: dataset, stage: stage, split: options.split)
        }
        if output.json {
            try printJSON(evaluation)
            return
        }
        print("snapshot \(evaluation.snapshot) (dataset '\(evaluation.dataset)', method \(evaluation.method.rawValue)): base-to-new on "
              + "'\(evaluation.on)':\(evaluation.stage), split \(evaluation.split.rawValue)")
        func cell(_ value: Double) -> String { String(format: "%.2f", value) }
        printTable(["classes of", "count", "accuracy", "zero-shot", "correct/total", "stages"], [
            ["base", "\(evaluation.base.classes)", cell(evaluation.base.accuracy), cell(evaluation.base.baseline),
             "\(evaluation.base.correct)/\(evaluation.base.total)", evaluation.base.stages.joined(separator: ", ")],
            ["new", "\(evaluation.new.classes)", cell(evaluation.new.accuracy), cell(evaluation.new.baseline),
             "\(evaluation.new.correct)/\(evaluation.new.total)", evaluation.new.stages.joined(separator: ", ")],
            ["HM", "", cell(evaluation.harmonicMean), cell(evaluation.baselineHarmonicMean), "", ""],
        ])
        if !evaluation.stored {
            FileHandle.standardError.write(Data("note: the results were not stored (the store is read-only, or another process is writing it)\n".utf8))
        }
    }
}
