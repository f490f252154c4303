import Formats
import Foundation

/// Errors a user can cause in the continual workflow; the store is unchanged after each.
public enum ContinualError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case modelDirectoryMissing(directory: String)
    case noTrainingRows(file: String, classes: [String])
    case stageContentDiffers(dataset: String, stage: String, detail: String)
    case registeredStageChanged(file: String, dataset: String, stage: String, detail: String)
    case sameTokens(file: String, line: Int, className: String, other: String, otherStage: String?)
    case runOptionsDiffer(method: String, shots: Int, seed: UInt64, dataset: String, snapshot: Int64, differences: [OptionDifference])
    case lineageOutOfOrder(method: String, latestStage: String, stage: String)
    case missingEarlierStage(method: String, dataset: String, stage: String, missing: String)
    case nothingToEvaluate(snapshot: Int64, split: String, stages: [String])
    case methodUnavailable(method: String)
    case unknownStages(snapshot: Int64, names: [String], valid: [String])
    case noFeatureRows(file: String)
    case imagesNeeded(method: String, file: String, line: Int)
    case imageChanged(path: String, snapshot: Int64?)
    case featuresCannotShowMaPLe(snapshot: Int64, method: String)
    case noStagesToSweep(dataset: String)
    case crossOnOwnDataset(snapshot: Int64, dataset: String)
    case noMatchingClasses(snapshot: Int64, dataset: String, stage: String?, classes: [String])
    case newStageNotNamed(dataset: String, stages: [String])
    case newStageTrained(snapshot: Int64, dataset: String, stage: String, snapshotStage: String)
    case newClassesTrained(snapshot: Int64, dataset: String, stage: String, classes: [String])

    public var description: String {
        switch self {
        case let .modelDirectoryMissing(directory):
            return "the store's model directory \(directory) is gone. Pass --model DIR with the same checkpoint."
        case let .noTrainingRows(file, classes):
            return "\(file): class\(classes.count == 1 ? "" : "es") \(classes.map { "'\(displayName($0))'" }.joined(separator: ", ")) \(classes.count == 1 ? "has" : "have") no training rows (split train). Add at least one train row per class, or use --method zeroshot."
        case let .stageContentDiffers(dataset, stage, detail):
            return "stage \(stage) of dataset '\(dataset)' is registered with other content (\(detail)). Use the same file as before, or name a new stage with --stage."
        case let .registeredStageChanged(file, dataset, stage, detail):
            return "\(file) has the classes of stage \(stage) of dataset '\(displayName(dataset))', but \(detail). A registered stage never changes: "
                + "give the files stage \(stage) was registered from (the same CSV and features), or other classes for a new stage."
        case let .sameTokens(file, line, className, other, otherStage):
            return "\(file)\(line > 0 ? ", line \(line)" : ""): class '\(displayName(className))' is the same words to CLIP as class '\(displayName(other))' "
                + (otherStage.map { "of stage \($0)" } ?? "earlier in the file")
                + " (its tokenizer ignores case and extra white space), so both would have one prompt. Rename one of them, or merge their rows into one class."
        case let .runOptionsDiffer(method, shots, seed, dataset, snapshot, differences):
            return "the run \(method), \(shots) shots, seed \(seed) of dataset '\(displayName(dataset))' was trained (snapshot \(snapshot)) with "
                + differences.map { "\($0.option) \($0.stored)" }.joined(separator: ", ") + "; this sweep gives "
                + differences.map { "\($0.option) \($0.requested)" }.joined(separator: ", ")
                + ". A run's training options are part of it: sweep with the run's options to continue it, or register the stages "
                + "under another dataset name to train the grid with others. Nothing was trained."
        case let .lineageOutOfOrder(method, latestStage, stage):
            return "method \(method) has already trained the later stage \(latestStage); stage \(stage) cannot follow it. Train stages in order (use another dataset to start over)."
        case let .missingEarlierStage(method, dataset, stage, missing):
            return "method \(method) has no snapshot of stage \(missing) of dataset '\(dataset)' yet, which stage \(stage) builds on. Run add-classes for \(missing) with --method \(method) first."
        case let .nothingToEvaluate(snapshot, split, stages):
            return "snapshot \(snapshot): nothing to evaluate, stages \(stages.joined(separator: ", ")) have no \(split) rows. Register \(split) rows, or pass another --split."
        case let .methodUnavailable(method):
            return "--method \(method) cannot train in this version; use one of \(StageWriter.trainableMethods.map(\.rawValue).joined(separator: ", "))."
        case let .unknownStages(snapshot, names, valid):
            return "--stages: snapshot \(snapshot) has no stage\(names.count == 1 ? "" : "s") \(names.map { "'\(displayName($0))'" }.joined(separator: ", ")); "
                + "its stages are \(valid.joined(separator: ", "))."
        case let .imagesNeeded(method, file, line):
            return "\(file):\(line): this row has an image feature but no image; --method \(method) trains prompts inside the image tower and needs the images themselves. Register the stage from a CSV with an `image` column (or import-split), not from --features."
        case let .imageChanged(path, snapshot):
            return "\(path) is missing or no longer holds the image registered with its sample; "
                + (snapshot.map { "snapshot \($0) re-encodes its images through its prompted image tower" } ?? "MaPLe trains from the images themselves")
                + ". Put the registered file back at that path."
        case let .featuresCannotShowMaPLe(snapshot, method):
            return "snapshot \(snapshot) is \(method), whose prompts act inside the image tower, so precomputed image features cannot be classified with it; pass the image files instead."
        case let .crossOnOwnDataset(snapshot, dataset):
            return "--on \(displayName(dataset)): snapshot \(snapshot) belongs to that dataset; evaluate it there with `lamm-store eval --snapshot \(snapshot)`, and use --on for another dataset."
        case let .noStagesToSweep(dataset):
            return "dataset '\(displayName(dataset))' has no registered stages to sweep; register them first with `lamm-store add-classes` or `import-split`."
        case let .noMatchingClasses(snapshot, dataset, stage, classes):
            let target = "'\(displayName(dataset))'" + (stage.map { " stage \(displayName($0))" } ?? "")
            let shown = classes.prefix(5).map { "'\(displayName($0))'" }.joined(separator: ", ") + (classes.count > 5 ? ", ..." : "")
            return "--on: none of the classes of dataset \(target) (\(shown)) has a class of the same name in snapshot \(snapshot); "
                + "cross-dataset evaluation matches classes by name. Name a dataset that shares class names with the snapshot's."
        case let .newStageNotNamed(dataset, stages):
            return "--on-new \(displayName(dataset)): the dataset has stages \(stages.map { displayName($0) }.joined(separator: ", ")); "
                + "name the one of new classes as \(displayName(dataset)):STAGE."
        case let .newStageTrained(snapshot, dataset, stage, snapshotStage):
            return "--on-new \(displayName(dataset)):\(displayName(stage)): snapshot \(snapshot) is of stage \(displayName(snapshotStage)) of that dataset, "
                + "which does not come before \(displayName(stage)). Base-to-new scores classes a snapshot has not trained: "
                + "name a stage after the snapshot's own, or a stage of another dataset."
        case let .newClassesTrained(snapshot, dataset, stage, classes):
            let shown = classes.prefix(5).map { "'\(displayName($0))'" }.joined(separator: ", ") + (classes.count > 5 ? ", ..." : "")
            return "--on-new \(displayName(dataset)):\(displayName(stage)): snapshot \(snapshot) has trained \(classes.count) of the stage's classes (\(shown)), "
                + "so they are not new to it. Name a stage whose classes the snapshot has no rows for; `eval --on` scores trained classes on another dataset."
        case let .noFeatureRows(file):
            return "\(file): the array has no rows. Give one image feature per row."
        }
    }

    public var errorDescription: String? { description }
}
