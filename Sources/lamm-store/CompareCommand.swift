import ArgumentParser
import Continual
import Foundation
import Reports
import Store

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare the methods' degradation across stages, as the paper's Table 2, with continual-learning metrics.",
        discussion: """
            For each dataset and each method's lineage of snapshots: every stage's accuracy after its own \
            training and after the method's last stage, the degradation, zero-shot CLIP, and the paper's \
            published cells where dataset and method names match (labelled as published). Metrics use \
            Avalanche's definitions: the accuracy matrix R[t][k], average accuracy (sample-weighted), \
            forgetting R[k][k] - R[T][k] averaged over earlier stages, backward transfer (= -forgetting) \
            and forward transfer against zero-shot CLIP. Missing evaluations are computed and stored. \
            With --dataset, only that dataset.
            """
    )

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .long, help: ArgumentHelp("Also write a self-contained HTML page with the tables and charts.", valueName: "file"))
    var html: String?

    @OptionGroup var options: EvaluationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        if let html {
            // Refuse an unwritable page before any evaluation is computed and stored.
            let folder = URL(fileURLWithPath: html).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
                  FileManager.default.isWritableFile(atPath: folder) else {
                throw OptionError.missingFolder(option: "--html", path: html, folder: folder)
            }
        }
        let comparison = try store.withStore(.read) { labelStore in
            if let dataset = dataset.name { _ = try labelStore.resolveDataset(dataset) }
            guard try !labelStore.datasetNames().isEmpty else { throw CompareError.emptyStore }
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            return try session.compare(dataset: dataset.name, split: options.split, protocol: options.labelSpace.protocol)
        }
        if let html {
            do {
                try Data(comparison.html().utf8).write(to: URL(fileURLWithPath: html), options: .atomic)
            } catch {
                throw OptionError.unwritable(option: "--html", path: html, reason: error.localizedDescription)
            }
        }
        if output.json {
            try printJSON(comparison)
            return
        }
        print(comparison.text, terminator: "")
        if let html { print("wrote \(html)") }
    }
}
