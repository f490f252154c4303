import Foundation

/// Errors a user can cause through the store. Each message names what is wrong and
/// says what to do; the store is left as it was.
public enum StoreError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case noStore(path: String)
    case storeExists(path: String)
    case notSQLite(path: String)
    case newerSchema(path: String, unknown: [String])
    case unopenable(path: String, reason: String)
    case noModel(path: String)
    case modelMismatch(path: String, bound: String, boundSha256: String, given: String, givenSha256: String)
    case unknownDataset(name: String, known: [String])
    case noDatasets
    case ambiguousDataset(known: [String])
    case unknownStage(dataset: String, name: String)
    case stageExists(dataset: String, name: String)
    case classRegisteredEarlier(file: String, line: Int, className: String, dataset: String, stage: String)
    case unknownSnapshot(id: Int64, latest: Int64?)
    case snapshotsOfDifferentDatasets(a: Int64, b: Int64)
    case snapshotOfAnotherDataset(id: Int64, dataset: String, requested: String)
    case missingLabelEmbedding(className: String, snapshotStage: String)
    case labelWidth(className: String, expected: Int, found: Int)
    case notAClassOfStage(className: String, stage: String)

    public var description: String {
        switch self {
        case let .noStore(path):
            return "no store at \(path). Create one with `lamm-store init --model DIR`, or point --db (or LAMM_STORE_DB) at an existing store."
        case let .storeExists(path):
            return "\(path) already holds a store. Use another --db path for a new store."
        case let .notSQLite(path):
            return "\(path) is not a lamm-store database (not an SQLite file). Check --db / LAMM_STORE_DB."
        case let .newerSchema(path, unknown):
            return "\(path) was written by a newer lamm-store (schema \(unknown.joined(separator: ", ")) unknown to this one). Upgrade lamm-store to use it."
        case let .unopenable(path, reason):
            return "cannot open the store \(path): \(reason)"
        case let .noModel(path):
            return "the store \(path) is bound to no model. Run `lamm-store init --model DIR --db \(path)` first."
        case let .modelMismatch(path, bound, boundSha, given, givenSha):
            let difference = boundSha == givenSha ? "has the same weights but another config.json" : "has weights sha256 \(givenSha.prefix(12))…"
            return "the store \(path) is bound to the model \(bound) (weights sha256 \(boundSha.prefix(12))…), but --model \(given) \(difference). Use the store's model, or another --db for this model."
        case let .unknownDataset(name, known):
            return "no dataset named '\(name)' in the store" + (known.isEmpty ? "." : " (it has: \(known.joined(separator: ", "))).") + " Check --dataset."
        case .noDatasets:
            return "the store holds no datasets yet. Register one with `lamm-store add-classes FILE.csv --features FILE.npy`."
        case let .ambiguousDataset(known):
            return "the store holds several datasets (\(known.joined(separator: ", "))). Name one with --dataset."
        case let .unknownStage(dataset, name):
            return "dataset '\(dataset)' has no stage '\(name)'. Check --stage."
        case let .stageExists(dataset, name):
            return "dataset '\(dataset)' already has a stage '\(name)'. Name a new stage with --stage."
        case let .classRegisteredEarlier(file, line, className, dataset, stage):
            return "\(file), line \(line): class '\(className)' is already registered in stage \(stage) of dataset '\(dataset)'. A stage adds new classes only; remove the row or rename the class."
        case let .unknownSnapshot(id, latest):
            return "no snapshot \(id) in the store" + (latest.map { " (snapshots run from 1 to \($0))." } ?? " (it has none yet).") + " List them with `lamm-store snapshots`."
        case let .snapshotsOfDifferentDatasets(a, b):
            return "snapshots \(a) and \(b) belong to different datasets; diff compares snapshots of one dataset."
        case let .snapshotOfAnotherDataset(id, dataset, requested):
            return "snapshot \(id) belongs to dataset '\(dataset)', not '\(requested)'. Pick a snapshot of '\(requested)' with `lamm-store snapshots --dataset \(requested)`."
        case let .missingLabelEmbedding(className, stage):
            return "class '\(className)' has no label embedding for a snapshot of stage \(stage): it is neither trained now nor held by the parent snapshot."
        case let .labelWidth(className, expected, found):
            return "label embedding of class '\(className)' has width \(found), but the model's token embeddings are \(expected) wide."
        case let .notAClassOfStage(className, stage):
            return "class '\(className)' is not among the classes a snapshot of stage \(stage) covers."
        }
    }

    public var errorDescription: String? { description }
}
