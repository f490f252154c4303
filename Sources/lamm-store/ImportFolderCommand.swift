import ArgumentParser
import Continual
import Formats
import Foundation
import Store

struct ImportFolderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-folder",
        abstract: "Import an ImageFolder tree (DIR/train/<class>/*.jpg, DIR/test/<class>/...) as the stages of a class-incremental scenario, encode its images and train.",
        discussion: """
            The layout torchvision's ImageFolder reads: DIR/train/<class>/<image>, DIR/test/<class>/<image> \\
            and optionally DIR/val/<class>/<image>; or one tree DIR/<class>/<image> with --test-fraction F, \\
            each class's images cut into train and test with --seed. Classes are the folder names sorted \\
            (in NFC); images are the .jpg, .jpeg and .png files (other files are counted and left out). \\
            The stages come as in import-split: --steps N or --increments B,I (B0 Inc10: 10,10) in \\
            --class-order sorted, seed:S (numpy's permutation, as PyCIL) or a file of class names. Every \\
            image is encoded before anything is written; all stages are written in one transaction. \\
            Without --dataset: the folder's name.
            """
    )

    @Argument(help: ArgumentHelp("The tree's root folder.", valueName: "DIR"))
    var folder: String

    @Option(name: .long, help: ArgumentHelp("For one tree DIR/<class>/...: the share of each class's images that become test rows.", valueName: "F"))
    var testFraction: Double?

    @OptionGroup var scenario: ScenarioOptions
    @OptionGroup var dataset: DatasetOptions
    @OptionGroup var labelSpace: ProtocolOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup(title: "Images") var imageOptions: ImageOptions
    @OptionGroup(title: "Training") var training: TrainingOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let root = URL(fileURLWithPath: folder).standardizedFileURL
        let tree = try ImageFolder(root: root, testFraction: testFraction, seed: training.seed)
        let printer = progress.printer(json: output.json)
        if tree.ignoredFiles > 0 {
            FileHandle.standardError.write(Data("note: \(tree.ignoredFiles) file\(tree.ignoredFiles == 1 ? "" : "s") in \(folder) are not .jpg, .jpeg or .png images and were left out\n".utf8))
        }
        let results = try store.withStore(.write) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            var request = ImportSplitRequest(file: root, fileName: folder, images: root,
                                             dataset: dataset.name ?? Names.normalised(root.lastPathComponent), method: training.method,
                                             trainingProtocol: labelSpace.protocol, configuration: training.configuration,
                                             imageOptions: imageOptions.options(seed: training.seed))
            (request.increments, request.classOrder) = try scenario.scenario()
            return try session.writer.importSplit(request, split: tree.split, progress: printer.stage)
        }
        if output.json {
            try printJSON(results)
            return
        }
        for result in results {
            let r = result.registration
            print("stage \(r.stage) of dataset '\(r.dataset)': \(r.classes) classes, \(r.train) train / \(r.val) val / \(r.test) test rows; "
                  + "snapshot \(result.snapshot.id) (\(result.snapshot.method.rawValue))"
                  + (result.skippedImages.isEmpty ? "" : "; \(result.skippedImages.count) images skipped"))
        }
    }
}
