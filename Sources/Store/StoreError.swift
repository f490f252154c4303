import Formats
import Foundation
import Methods

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
    case unknownTag(name: String, known: [String])
    case snapshotsOfDifferentDatasets(a: Int64, b: Int64)
    case snapshotOfAnotherDataset(id: Int64, dataset: String, requested: String)
    case missingLabelEmbedding(className: String, snapshotStage: String)
    case labelWidth(className: String, expected: Int, found: Int)
    case notAClassOfStage(className: String, stage: String)
    case emptyPath
    case isFolder(path: String)
    case notAStore(path: String)
    case readOnly(path: String)
    case schemaBehindReadOnly(path: String)
    case diskFull(path: String)
    case locked(path: String)
    case damagedBlob(path: String, table: String, row: String, column: String, bytes: Int, expected: Int)
    case damagedLineage(path: String, snapshot: Int64)
    case stageChangedMeanwhile(dataset: String, stage: String)
    case planChangedMeanwhile(dataset: String, stage: String, change: String)
    case claimLost(dataset: String, stage: String, run: String, worker: String)
    case promptTensorsOfMethod(method: Method)
    case promptTensorName(name: String)
    case promptTensorSize(name: String, shape: [Int], values: Int)
    case badPostgresURL(url: String, reason: String)
    case serverUnreachable(url: String, reason: String)
    case authenticationFailed(url: String, user: String, reason: String)
    case databaseMissing(url: String, database: String)
    case connectionLost(url: String, writing: Bool)
    case commitNotWritten(url: String, key: String)
    case commitOutcomeUnknown(url: String, key: String?, reason: String)
    case serverError(url: String, message: String)
    case copyTargetNotEmpty(path: String)
    case hardLinked(path: String, names: Int, others: [String])
    case sqliteSpecialName(path: String)
    case notAFile(path: String, kind: FileKind)

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
            return "no dataset named '\(displayName(name))' in the store" + (known.isEmpty ? "." : " (it has: \(known.joined(separator: ", "))).") + " Check --dataset."
        case .noDatasets:
            return "the store holds no datasets yet. Register one with `lamm-store add-classes FILE.csv --features FILE.npy`."
        case let .ambiguousDataset(known):
            return "the store holds several datasets (\(known.joined(separator: ", "))). Name one with --dataset."
        case let .unknownStage(dataset, name):
            return "dataset '\(dataset)' has no stage '\(name)'. Check --stage."
        case let .stageExists(dataset, name):
            return "dataset '\(dataset)' already has a stage '\(name)'. Name a new stage with --stage."
        case let .classRegisteredEarlier(file, line, className, dataset, stage):
            return "\(file), line \(line): class '\(displayName(className))' is already registered in stage \(stage) of dataset '\(dataset)'. A stage adds new classes only; remove the row or rename the class."
        case let .unknownSnapshot(id, latest):
            return "no snapshot \(id) in the store" + (latest.map { " (snapshots run from 1 to \($0))." } ?? " (it has none yet).") + " List them with `lamm-store snapshots`."
        case let .unknownTag(name, known):
            return "no snapshot is tagged '\(displayName(name))'" + (known.isEmpty ? " (the store has no tags yet)" : "; the tags are \(known.map { "'\(displayName($0))'" }.joined(separator: ", "))")
                + ". Give a snapshot id, or tag one with `lamm-store tag --snapshot N NAME`."
        case let .snapshotsOfDifferentDatasets(a, b):
            return "snapshots \(a) and \(b) belong to different datasets; diff compares snapshots of one dataset."
        case let .snapshotOfAnotherDataset(id, dataset, requested):
            return "snapshot \(id) belongs to dataset '\(dataset)', not '\(requested)'. Pick a snapshot of '\(requested)' with `lamm-store snapshots --dataset \(requested)`."
        case let .missingLabelEmbedding(className, stage):
            return "class '\(displayName(className))' has no label embedding for a snapshot of stage \(stage): it is neither trained now nor held by the parent snapshot."
        case let .labelWidth(className, expected, found):
            return "label embedding of class '\(displayName(className))' has width \(found), but the model's token embeddings are \(expected) wide."
        case let .notAClassOfStage(className, stage):
            return "class '\(displayName(className))' is not among the classes a snapshot of stage \(stage) covers."
        case .emptyPath:
            return "--db (or LAMM_STORE_DB) is empty; give the path of the store's file."
        case let .isFolder(path):
            return "\(path) is a folder, not a store file. Give --db the path of a file inside it, e.g. \((path as NSString).appendingPathComponent("lamm.sqlite"))."
        case let .notAStore(path):
            return "\(path) is not a lamm-store database; it was left untouched. Check --db / LAMM_STORE_DB, or create a store at a new path with `lamm-store init --model DIR --db NEW.sqlite`."
        case let .readOnly(path):
            return "the store \(path) cannot be written (the file or its folder is read-only); nothing was written. Reading commands (snapshots, show, eval, export, verify) still work; copy the store somewhere writable to change it."
        case let .schemaBehindReadOnly(path):
            return "the store \(path) was written by an older lamm-store and must be upgraded once, which needs write access to it. Run any command on a writable copy."
        case let .diskFull(path):
            return "no space left on the device holding \(path); nothing was written. Free some space and run the command again."
        case let .locked(path):
            return "the store \(path) stayed locked by another process for \(Int(SQLiteStore.writeLockTimeout)) s; nothing was written. Run the command again when that process has finished."
        case let .damagedBlob(path, table, row, column, bytes, expected):
            return "the store \(path) is damaged: \(table) row \(row) holds \(bytes) bytes of \(column), not \(expected). Run `lamm-store verify` and restore the store from a copy."
        case let .damagedLineage(path, snapshot):
            return "the store \(path) is damaged: the parents of snapshot \(snapshot) form a loop. Run `lamm-store verify` and restore the store from a copy."
        case let .stageChangedMeanwhile(dataset, stage):
            return "stage \(stage) of dataset '\(dataset)' was registered by another process with other content while this one trained; nothing was written. Name a new stage with --stage, or use the same file as the other process."
        case let .planChangedMeanwhile(dataset, stage, change):
            return "while this command trained stage \(stage), another writer changed dataset '\(dataset)': \(change). Nothing was written: "
                + "the training was for the store as it was, so it is lost rather than attached to a lineage it never had. Run the command again to train from the store as it is now."
        case let .claimLost(dataset, stage, run, worker):
            return "while this sweep (\(worker)) trained stage \(stage) of dataset '\(dataset)', its lease on the run \(run) ended and another "
                + "worker took the run over. Nothing was written: the run is that worker's now. Give sweep a longer --lease if this machine "
                + "pauses for longer than the lease."
        case let .promptTensorsOfMethod(method):
            return "a \(method.rawValue) snapshot holds no prompt tensors (only maple and maple+lamm snapshots do); nothing was written."
        case let .promptTensorName(name):
            return (name.isEmpty ? "a prompt tensor has an empty name" : "prompt tensor '\(name)' is given twice")
                + "; each tensor of a snapshot needs a name of its own. Nothing was written."
        case let .promptTensorSize(name, shape, values):
            let holds = PromptTensor.elementCount(of: shape).map { "holds \($0) values" } ?? "has a size below 1"
            return "prompt tensor '\(name)' has \(values) values, but its shape \(shape) \(holds); nothing was written."
        case let .badPostgresURL(url, reason):
            return "--db \(url) cannot be used: \(reason). Check --db / LAMM_STORE_DB."
        case let .serverUnreachable(url, reason):
            return "cannot reach the PostgreSQL server of \(url): \(reason). Check that the server runs and accepts connections at that host and port, or fix --db."
        case let .authenticationFailed(url, user, reason):
            return "the PostgreSQL server of \(url) refused user '\(user)': \(reason). Give the right password in the URL, PGPASSWORD or ~/.pgpass (mode 0600), or another user."
        case let .databaseMissing(url, database):
            return "the PostgreSQL server of \(url) has no database '\(database)'. Create it (`createdb \(database)`, or CREATE DATABASE \(database);), then run `lamm-store init --model DIR --db \(url)`."
        case let .connectionLost(url, writing):
            return "the connection to \(url) was lost" + (writing ? " before the transaction committed; the server rolls it back, so nothing was written. Run the command again." : "; nothing was written. Run the command again.")
        case let .commitNotWritten(url, key):
            return "the connection to \(url) was lost while the write committed; asked on a new connection, the server has no write \(key), "
                + "so nothing was written. Run the command again."
        case let .commitOutcomeUnknown(url, key, reason):
            return "the connection to \(url) was lost while the write committed, and the server could not be asked again (\(reason)), "
                + "so whether it was written is not known. When the server is back, `lamm-store snapshots` shows it"
                + (key.map { "; the write's key is \($0) (SELECT * FROM write_receipt WHERE key = '\($0)')." } ?? ".")
        case let .copyTargetNotEmpty(path):
            return "\(path) already holds a store with data; copy moves a store into a new one. Name a new file, or an empty PostgreSQL database, with --to."
        case let .hardLinked(path, names, others):
            let also = others.isEmpty ? "its other names are in other folders" : "it is also \(others.joined(separator: ", "))"
            let remove = others.isEmpty ? "remove the other names" : "remove the other name\(others.count > 1 ? "s" : "") (rm \(others.joined(separator: " ")))"
            return "the store \(path) has \(names) names (hard links): \(also). SQLite keeps the write-ahead log beside the name a store is opened by, "
                + "so writing through two names would corrupt it; nothing was written. Give the store a file of its own "
                + "(cp \(path) NEW.sqlite, then --db NEW.sqlite), or \(remove); reading commands still work."
        case let .sqliteSpecialName(path) where path == ":memory:":
            return "the store ':memory:' would be no file at all (SQLite keeps a database of that name in memory and drops it at exit). "
                + "Give the path of the store's file, or postgres://...; a file named so can be given as ./:memory:."
        case let .sqliteSpecialName(path):
            return "the store \(path) is an SQLite URI (it starts with file:), which lamm-store does not open: it could name another file, "
                + "with parameters of its own. Give the store's plain path, or postgres://...; a file whose name starts with file: can be given as ./\(path)."
        case let .notAFile(path, kind):
            return "\(path) is \(kind), not a store file; nothing was opened. Give --db (or LAMM_STORE_DB) the path of the store's SQLite file, or a postgres:// URL."
        case let .serverError(url, message):
            return "the PostgreSQL server of \(url) refused a statement: \(message). Nothing was written."
        }
    }

    public var errorDescription: String? { description }
}
