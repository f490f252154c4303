import ArgumentParser
import Continual
import Foundation
import Store

struct ImportSplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-split",
        abstract: "Import a CoOp/Dassl split file as the stages of a class-incremental scenario (by default two: base and new classes), encode its images and train.",
        discussion: """
            FILE.json is a CoOp/Dassl split (`{"train"|"val"|"test": [[relative path, label, classname], ...]}`, \
            e.g. split_zhou_OxfordPets.json). By default labels are sorted; Set1 is the first ceil(K/2), \
            Set2 the rest, as Dassl's base/new subsampling. --steps N cuts the classes into N stages \
            (as even as possible, the first ones larger), --increments B,I into B classes first and then \
            I per stage (B0 Inc10 over 100 classes: --increments 10,10); --class-order takes them sorted, \
            in the seeded order of the class-incremental benchmarks (seed:1993 is numpy's \
            np.random.seed(1993); np.random.permutation(K) over the sorted labels, as PyCIL draws it), \
            or in a file's order (one class name per line). Image paths are relative to --images. Every \
            image of every stage is encoded before anything is written; then Set1, Set2, ... are added \
            as with add-classes, in one transaction. Without --dataset: the file's name without split_zhou_.
            """
    )

    @Argument(help: ArgumentHelp("The split file.", valueName: "FILE.json"))
    var file: String

    @Option(name: .long, help: ArgumentHelp("The folder the split's image paths are relative to.", valueName: "dir"))
    var images: String

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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: images, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw OptionError.notAFolder(option: "--images", path: images, purpose: "the folder the split's image paths start from")
        }
        let printer = progress.printer(json: output.json)
        let results = try store.withStore(.write) { labelStore in
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            var request = ImportSplitRequest(file: URL(fileURLWithPath: file), fileName: file, images: URL(fileURLWithPath: images),
                                             dataset: dataset.name, method: training.method, trainingProtocol: labelSpace.protocol,
                                             configuration: training.configuration, imageOptions: imageOptions.options(seed: training.seed))
            (request.increments, request.classOrder) = try scenario.scenario()
            return try session.writer.importSplit(request, progress: printer.stage)
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
