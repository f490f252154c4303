import ArgumentParser
import Continual
import Formats
import Foundation
import Store

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify images, or precomputed image features, with a snapshot's classes.",
        discussion: """
            Prints each input's most probable classes among the snapshot's classes (every stage up to \
            its own, or those of --stages): softmax of CLIP's logit scale times the cosine of the image \
            feature (centre crop) and each class's text feature. Text features are read from the \
            store's cache; nothing is stored.
            """
    )

    @Option(name: .customLong("snapshot"), parsing: .unconditional, help: "The snapshot: its id (see `lamm-store snapshots`) or a name it has (`lamm-store tag`).")
    var snapshotReference: SnapshotReference

    @Option(name: .long, help: ArgumentHelp("Precomputed image features [rows, width], one input per row, instead of image files.", valueName: "F.npy"))
    var features: String?

    @Option(name: .long, parsing: .unconditional, help: "How many classes to print per input, most probable first.")
    var top = 5

    @Option(name: .long, help: ArgumentHelp("Classify among these stages' classes only, comma-separated.", valueName: "Set1,Set2"))
    var stages: String?

    @OptionGroup var model: ModelOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "JPEG or PNG files.")
    var files: [String] = []

    var stageNames: [String]? {
        stages.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { Names.normalised($0.trimmingCharacters(in: .whitespaces)) } }
    }

    func validate() throws {
        if features != nil && !files.isEmpty {
            throw ValidationError("Give image files or --features, not both.")
        }
        if features == nil && files.isEmpty {
            throw ValidationError("Give image files to classify, or --features F.npy with their image features.")
        }
        if top < 1 { throw ValidationError("--top must be at least 1.") }
        if let names = stageNames, names.contains(where: \.isEmpty) {
            throw ValidationError("--stages must name stages, comma-separated, e.g. --stages Set1,Set2.")
        }
        if let names = stageNames { try requireDistinct(names, option: "--stages") { $0 } }
    }

    func run() throws {
        let results = try store.withStore(.read) { labelStore in
            let snapshot = try labelStore.resolveSnapshot(snapshotReference)
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            if let features {
                return try session.classifier.classify(snapshot: snapshot, featureFile: URL(fileURLWithPath: features), displayName: features,
                                            stages: stageNames, top: top)
            }
            return try session.classifier.classify(snapshot: snapshot, imageFiles: files, stages: stageNames, top: top)
        }
        if output.json {
            try printJSON(results)
            return
        }
        for (k, result) in results.enumerated() {
            if k > 0 { print() }
            print(result.input)
            printTable(["rank", "class", "stage", "probability", "logit"], result.top.enumerated().map { rank, candidate in
                ["\(rank + 1)", candidate.className, candidate.stage, String(format: "%.4f", candidate.probability),
                 String(format: "%.2f", candidate.logit)]
            })
        }
    }
}
