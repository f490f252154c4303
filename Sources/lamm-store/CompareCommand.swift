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

    @Option(name: .long, help: ArgumentHelp("Also write one CSV line per lineage and stage (every sweep run too), for plotting elsewhere.", valueName: "file"))
    var csv: String?

    @OptionGroup var options: EvaluationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        // Refuse an unwritable output before any evaluation is computed and stored.
        for (option, path) in [("--html", html), ("--csv", csv)] {
            guard let path else { continue }
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
                  FileManager.default.isWritableFile(atPath: folder) else {
                throw OptionError.missingFolder(option: option, path: path, folder: folder)
            }
        }
        let comparison = try store.withStore(.read) { labelStore in
            if let dataset = dataset.name { _ = try labelStore.resolveDataset(dataset) }
            guard try !labelStore.datasetNames().isEmpty else { throw CompareError.emptyStore }
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            return try session.compare(dataset: dataset.name, split: options.split, protocol: options.labelSpace.protocol)
        }
        for (option, path, contents) in [("--html", html, { comparison.html() }), ("--csv", csv, { comparison.csv })] {
            guard let path else { continue }
            do {
                try Data(contents().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw OptionError.unwritable(option: option, path: path, reason: error.localizedDescription)
            }
        }
        if output.json {
            try printJSON(comparison)
            return
        }
        print(comparison.text, terminator: "")
        for path in [html, csv].compactMap({ $0 }) { print("wrote \(path)") }
    }
}
