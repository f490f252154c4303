import ArgumentParser
import Foundation
import Store

struct AddClassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-classes",
        abstract: "Register a new stage of a dataset: its classes and their samples.",
        discussion: """
            FILE.csv has a header row and the columns `class`, `split` (train, val or test) and, when no
            --features are given, `image` (a path relative to the CSV). --features gives a NumPy .npy
            file [rows, width] (float32 or float16) with one image feature per CSV data row, in order;
            width must be the store model's feature width. The classes' order of first appearance is
            their order in the stage's label space. A class registered in an earlier stage is refused.
            """
    )

    @Argument(help: ArgumentHelp("The stage's CSV file.", valueName: "FILE.csv"))
    var csv: String

    @Option(name: .long, help: ArgumentHelp("Image features, one row per CSV data row.", valueName: "FILE.npy"))
    var features: String?

    @Option(name: .long, help: "Dataset name (default: the store's only dataset, or `default` in an empty store).")
    var dataset: String?

    @Option(name: .long, help: "Stage name (default: Set<n+1>).")
    var stage: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if dataset?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw ValidationError("--dataset must not be empty; name the dataset, e.g. --dataset pets.")
        }
        if stage?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw ValidationError("--stage must not be empty; name the stage, e.g. --stage Set2.")
        }
    }

    func run() throws {
        let registered = try store.withStore { labelStore in
            let model = try labelStore.requireModel()
            let datasetName: String
            if let dataset {
                datasetName = dataset
            } else {
                let known = try labelStore.datasetNames()
                guard known.count <= 1 else { throw StoreError.ambiguousDataset(known: known) }
                datasetName = known.first ?? "default"
            }
            let data = try StageImport.load(csv: URL(fileURLWithPath: csv), csvName: csv,
                                            features: features.map { URL(fileURLWithPath: $0) }, featuresName: features,
                                            featureWidth: model.featureWidth)
            return try labelStore.registerStage(dataset: datasetName, stage: stage, data: data)
        }
        if output.json {
            try printJSON(registered)
        } else {
            print("registered stage \(registered.stage) of dataset '\(registered.dataset)': \(registered.classes) classes, "
                  + "\(registered.train) train / \(registered.val) val / \(registered.test) test samples")
        }
    }
}
