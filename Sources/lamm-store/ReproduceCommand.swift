import ArgumentParser
import Continual
import Foundation
import Store

struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Train a snapshot's stage again from its manifest, in a scratch copy of the store, and check the result is bit-identical.",
        discussion: """
            The stage, its parent snapshot, every training option and the seed come from the store; \\
            the training rows drawn again are checked against the manifest's. The store itself is only \\
            read: the training runs in a copy that is removed afterwards. Label rows (and CoOp's context, \\
            MaPLe's prompt tensors) must come out bit for bit the same at the same precision and OpenBLAS \\
            thread count; the report names what differs from the recorded run when they do not. Exits 1 \\
            when anything differs.
            """
    )

    @Option(name: .customLong("snapshot"), help: "The snapshot: its id or a name it has (`lamm-store tag`).")
    var snapshotReference: SnapshotReference

    @OptionGroup var model: ModelOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let printer = progress.printer(json: output.json)
        let report = try store.withStore(.read) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            return try session.reproduce(snapshot: try labelStore.resolveSnapshot(snapshotReference), progress: printer.stage)
        }
        if output.json {
            try printJSON(report)
        } else {
            print("snapshot \(report.snapshot) (\(report.method.rawValue), stage \(report.stage)): trained again in \(ProgressPrinter.duration(report.seconds)); "
                  + (report.identical ? "bit-identical (\(report.values) values)" : "\(report.differences.count) of its tensors differ")
                  + (report.sameTrainingRows ? "" : "; the training rows drawn differ from the manifest's"))
            if !report.differences.isEmpty {
                printTable(["tensor", "values", "differing", "max |difference|"], report.differences.map {
                    [$0.name, "\($0.values)", "\($0.differing)", String(format: "%.3g", $0.maxAbsoluteDifference)]
                })
            }
            report.notes.forEach { print("note: \($0)") }
        }
        if !report.identical || !report.sameTrainingRows { throw ExitCode(1) }
    }
}
