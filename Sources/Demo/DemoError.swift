import Foundation

/// What can go wrong while making the demo's checkpoint and task.
public enum DemoError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case invalidModelSize(reason: String)
    case noWords
    case tooFewClasses(count: Int)
    case duplicateClassName(String)
    case classNameNotTokenized(String)
    case invalidShots(train: Int, test: Int)
    case vocabularyMismatch(tokenizer: Int, checkpoint: Int)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason):
            "cannot write \(path) (\(reason)); choose a writable output directory"
        case let .invalidModelSize(reason):
            "invalid demo model size: \(reason)"
        case .noWords:
            "the demo vocabulary needs at least one non-empty word; pass the prompts' words"
        case let .tooFewClasses(count):
            "the demo task needs at least 4 class names (two per stage), got \(count); pass more class names"
        case let .duplicateClassName(name):
            "the class name '\(name)' is given twice; class names must be distinct"
        case let .classNameNotTokenized(name):
            "the class name '\(name)' gives no tokens; use a name made of letters"
        case let .invalidShots(train, test):
            "the demo task needs at least one train and one test sample per class, got \(train) train and \(test) test"
        case let .vocabularyMismatch(tokenizer, checkpoint):
            "the tokenizer has \(tokenizer) tokens but the checkpoint's token embedding only \(checkpoint) rows; use the vocab.json and merges.txt written with the checkpoint"
        }
    }

    public var errorDescription: String? { description }
}

enum DemoFiles {
    /// Writes `data` atomically, turning a failure into `DemoError.cannotWrite` naming the file.
    static func write(_ data: Data, to url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw DemoError.cannotWrite(path: url.path, reason: error.localizedDescription)
        }
    }
}
