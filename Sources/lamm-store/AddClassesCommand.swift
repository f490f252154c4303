import ArgumentParser
import Continual
import Formats
import Foundation
import Store

struct AddClassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-classes",
        abstract: "Add a stage of new classes: register them, store the zero-shot baseline, train, snapshot.",
        discussion: """
            FILE.csv has a header row and the columns `class`, `split` (train, val or test) and, when no \
            --features are given, `image` (a path relative to the CSV). --features gives a NumPy .npy \
            file [rows, width] (float32 or float16) with one image feature per CSV data row, in order; \
            width must be the store model's feature width. The classes' order of first appearance is \
            their order in the stage's label space. A class registered in an earlier stage is refused. \
            Without --dataset: the store's only dataset, or `default` in an empty store.

            With --method lamm (the default) only the new classes' label vectors are trained; the \
            rows of earlier classes are reused untouched by the new snapshot. --method zeroshot \
            stores CLIP's own word embeddings as a snapshot. Running add-classes again with the same \
            file and another method reuses the registered stage. Everything is written in one \
            transaction at the end: an error leaves the store as it was.
            """
    )

    @Argument(help: ArgumentHelp("The stage's CSV file.", valueName: "FILE.csv"))
    var csv: String

    @Option(name: .long, help: ArgumentHelp("Image features, one row per CSV data row.", valueName: "FILE.npy"))
    var features: String?

    @Option(name: .long, help: "Stage name (default: the registered stage with the same content, else Set<n+1>).", transform: Names.normalised)
    var stage: String?

    @OptionGroup var dataset: DatasetOptions
    @OptionGroup var labelSpace: ProtocolOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup(title: "Images") var images: ImageOptions
    @OptionGroup(title: "Training") var training: TrainingOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let stage { try validateName(stage, as: .stage, option: "--stage") }
    }

    func run() throws {
        let printer = progress.printer(json: output.json)
        let result = try store.withStore(.write) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            var request = AddStageRequest(csv: URL(fileURLWithPath: csv), csvName: csv, features: features.map { URL(fileURLWithPath: $0) },
                                          featuresName: features, dataset: dataset.name, stage: stage, method: training.method,
                                          trainingProtocol: labelSpace.protocol, configuration: training.configuration)
            request.images = images.options(seed: training.seed)
            return try session.writer.addStage(request, progress: printer.stage)
        }
        result.warnings.forEach { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }
        if result.encodedImages + result.reusedImageFeatures > 0 {
            FileHandle.standardError.write(Data("image features: \(result.encodedImages) encoded, \(result.reusedImageFeatures) reused from the store, \(result.skippedImages.count) images skipped\n".utf8))
        }
        if output.json {
            try printJSON(result)
            return
        }
        let r = result.registration
        print("\(result.newlyRegistered ? "registered" : "reused") stage \(r.stage) of dataset '\(r.dataset)': \(r.classes) classes, "
              + "\(r.train) train / \(r.val) val / \(r.test) test samples")
        if let loss = result.finalLoss {
            print(String(format: "trained %d steps in %.1fs, %d shots per class; final epoch loss %.4f", result.steps,
                         result.trainingSeconds, result.shots, loss.total))
        }
        print("snapshot \(result.snapshot.id) (\(result.snapshot.method.rawValue), parent \(result.snapshot.parent.map { "\($0)" } ?? "none"))")
    }
}
