import ArgumentParser
import Continual
import Formats
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
            With --dataset, only that dataset. Sweep runs (`sweep`) are also shown in the layouts \
            of the paper's Tables 3-5 and Figure 3, averaged over the datasets compared; --markdown \
            and --latex write those tables as text a paper or a README can include.
            """
    )

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .long, help: ArgumentHelp("Also write a self-contained HTML page with the tables and charts.", valueName: "file"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("Also write one CSV line per lineage and stage (every sweep run too), for plotting elsewhere.", valueName: "file"))
    var csv: String?

    @Option(name: .long, help: ArgumentHelp("Also write the sweep runs in the paper's layouts (Tables 3-5) as Markdown tables.", valueName: "file"))
    var markdown: String?

    @Option(name: .long, help: ArgumentHelp("Also write the sweep runs in the paper's layouts (Tables 3-5) as LaTeX tables (booktabs).", valueName: "file"))
    var latex: String?

    @OptionGroup var options: EvaluationOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        // Refuse an output that cannot or must not be written before any evaluation is computed and stored.
        var outputs: [(file: OutputFile, contents: (Comparison) -> String)] = []
        for (option, path, contents) in [("--html", html, { (comparison: Comparison) in comparison.html() }),
                                         ("--csv", csv, { (comparison: Comparison) in comparison.csv }),
                                         ("--markdown", markdown, { (comparison: Comparison) in comparison.paper.markdown }),
                                         ("--latex", latex, { (comparison: Comparison) in comparison.paper.latex })] {
            guard let path else { continue }
            let earlier = outputs.map { OutputFile.Protected($0.file.path, what: "also the \($0.file.option) file") }
            outputs.append((try OutputFile(option: option, path: path, protecting: store.protectedFiles + earlier), contents))
        }
        let comparison = try store.withStore(.read) { labelStore in
            if let dataset = dataset.name { _ = try labelStore.resolveDataset(dataset) }
            guard try !labelStore.datasetNames().isEmpty else { throw CompareError.emptyStore }
            let session = try ContinualSession(store: labelStore, modelDirectory: options.model.directory)
            // Evaluating reads the checkpoint and, for MaPLe, the stages' images.
            let inputs = checkpointFiles(session.modelDirectory) + (try labelStore.imagePaths()).map {
                OutputFile.Protected($0, what: "an image of the store's stages, which this command reads")
            }
            outputs = try outputs.map { (try $0.file.protecting(inputs), $0.contents) }
            return try session.evaluator.compare(dataset: dataset.name, split: options.split, protocol: options.labelSpace.protocol)
        }
        for output in outputs {
            try output.file.write(output.contents(comparison))
        }
        if output.json {
            try printJSON(comparison)
            return
        }
        print(comparison.text, terminator: "")
        for path in [html, csv, markdown, latex].compactMap({ $0 }) { print("wrote \(path)") }
    }
}
