import Formats
import Foundation
import Methods

/// The read transaction `LabelStore.consistentRead` holds open on this thread, which the store's
/// reads inside it reuse.
final class PinnedRead: @unchecked Sendable {
    let store: ObjectIdentifier
    let db: any StoreDatabase

    init(store: ObjectIdentifier, db: any StoreDatabase) {
        self.store = store
        self.db = db
    }

    @TaskLocal static var current: PinnedRead?
}

/// The one type that owns a lamm-store database, in an SQLite file or on a PostgreSQL server
/// (`postgres://...`): it offers the store's operations, each one transaction, named after
/// what they do. Every operation is written once, against `StoreDatabase`; the backends differ
/// only in their executor and `SQLDialect`. Each backend's lifecycle (opening, creating,
/// migrating, closing, locking) is its own: `SQLiteStore` and `PostgresSchema`.
///
/// A store opened to read (`Access.read`) takes no write lock: it reads through a read-only
/// connection, never migrates unless the schema is behind, and never checkpoints. Writes it
/// makes on the side (cached text features, evaluation results) are skipped when the store
/// cannot be written or another process holds the write lock.
public final class LabelStore: Sendable {
    /// The database as the user named it, without a password (for messages).
    public let path: String
    public let executor: any StoreExecutor
    public let access: Access
    public var dialect: SQLDialect { executor.dialect }

    /// What a command does with the store.
    public enum Access: Sendable {
        /// Read only; the file must be a store.
        case read
        /// Read and write; the file must be a store.
        case write
        /// Read and write; a file that does not exist yet becomes a new store.
        case create
    }

    init(executor: any StoreExecutor, path: String, access: Access) {
        self.executor = executor
        self.path = path
        self.access = access
    }

    /// A fresh store in memory, for tests.
    public static func inMemory() throws -> LabelStore { try SQLiteStore.inMemory() }

    /// Opens the store at `path`: a `postgres://` URL names a database on a PostgreSQL server,
    /// anything else an SQLite file. Only `.create` makes a new store, and only in a file that
    /// does not exist or a database that holds no tables; anything else is refused untouched
    /// unless it is a lamm-store.
    public static func open(path: String, access: Access) throws -> LabelStore {
        guard !path.isEmpty else { throw StoreError.emptyPath }
        if PostgresLocation.isPostgresURL(path) { return try PostgresSchema.open(PostgresLocation(path), access: access) }
        return try SQLiteStore.open(path: path, access: access)
    }

    /// Closes the database. A writer on SQLite first checkpoints the write-ahead log into the
    /// main file and truncates it, so that the file holds everything on its own, unless readers
    /// are still reading it (they are never made to wait). Any other error closing is thrown.
    public func close() throws { try executor.close() }

    /// A read transaction. Inside `consistentRead`, it is that read's transaction.
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        if let pinned = PinnedRead.current, pinned.store == ObjectIdentifier(self) { return try body(pinned.db) }
        return try executor.read(body)
    }

    /// Runs `body` with every read of this store in it made in one read transaction, so that
    /// what it reads is one state of the store, whatever other writers commit meanwhile (a
    /// snapshot on SQLite's WAL, REPEATABLE READ on PostgreSQL). `body` must not write.
    public func consistentRead<T>(_ body: () throws -> T) throws -> T {
        if let pinned = PinnedRead.current, pinned.store == ObjectIdentifier(self) { return try body() }
        return try read { db in
            try PinnedRead.$current.withValue(PinnedRead(store: ObjectIdentifier(self), db: db)) { try body() }
        }
    }

    /// A write transaction. Writers of the same `datasets` run one after the other (on
    /// PostgreSQL, others run at the same time).
    func write<T>(datasets: [String], _ updates: (any StoreDatabase) throws -> T) throws -> T {
        guard access != .read else { throw StoreError.readOnly(path: path) }
        precondition(PinnedRead.current?.store != ObjectIdentifier(self), "a store is written inside its own consistentRead")
        return try executor.write(locks: datasets.map { "dataset " + $0 }, updates)
    }

    /// A write made on the side of a read (cached features, evaluation results): made when the
    /// store can be written and no other process holds the write lock, else skipped. Returns
    /// whether it was made.
    func writeIfFree(_ updates: (any StoreDatabase) throws -> Void) throws -> Bool {
        // Inside a consistent read, the cache is left to be written next time.
        if PinnedRead.current?.store == ObjectIdentifier(self) { return false }
        if access != .read { return try write(datasets: []) { try updates($0); return true } }
        return try executor.writeOnSide(updates)
    }
}

// MARK: - Writes

extension LabelStore {
    /// Binds the store to a CLIP checkpoint. Binding again to the same weights is a no-op
    /// (returns false); any other checkpoint is an error.
    @discardableResult
    public func bindModel(_ model: ModelRecord) throws -> Bool {
        try write(datasets: [" model"]) { db in
            if let bound = try Self.boundModel(db) {
                guard bound.weightsSha256 == model.weightsSha256, bound.configJson == model.configJson else {
                    throw StoreError.modelMismatch(path: path, bound: bound.directory, boundSha256: bound.weightsSha256,
                                                   given: model.directory, givenSha256: model.weightsSha256)
                }
                return false
            }
            var record = model
            record.id = 1
            try db.insert(record)
            return true
        }
    }

    static func boundModel(_ db: any StoreDatabase) throws -> ModelRecord? {
        try db.fetchOne(ModelRecord.self, "SELECT * FROM model WHERE id = 1")
    }

    static func dataset(_ db: any StoreDatabase, named name: String) throws -> DatasetRecord? {
        try db.fetchOne(DatasetRecord.self, "SELECT * FROM dataset WHERE name = ?", [name])
    }

    static func datasetNames(_ db: any StoreDatabase) throws -> [String] {
        try db.scalars(String.self, "SELECT name FROM dataset ORDER BY id")
    }

    /// A stage's classes, in label order.
    static func labelSpace(_ db: any StoreDatabase, stage stageId: Int64) throws -> [ClassRecord] {
        try db.fetchAll(ClassRecord.self, "SELECT * FROM class WHERE stage_id = ? ORDER BY label_index", [stageId])
    }

    /// Registers a new stage of `dataset` (created if new) with its classes and samples, in
    /// one transaction. `stage` nil names it Set<n+1>. A class may be introduced only once
    /// per dataset.
    public func registerStage(dataset datasetName: String, stage stageName: String?, data: StageData) throws -> RegisteredStage {
        try write(datasets: [datasetName]) { db in try registerStage(db, dataset: datasetName, stage: stageName, data: data) }
    }

    func registerStage(_ db: any StoreDatabase, dataset datasetName: String, stage stageName: String?, data: StageData) throws -> RegisteredStage {
        guard try Self.boundModel(db) != nil else { throw StoreError.noModel(path: path) }
        var dataset: DatasetRecord
        if let existing = try Self.dataset(db, named: datasetName) {
            dataset = existing
        } else {
            dataset = DatasetRecord(name: datasetName, createdAt: Date())
            try db.insert(&dataset)
        }
        let datasetId = dataset.id!
        let stages = try db.fetchAll(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ?", [datasetId])
        let name = stageName ?? "Set\(stages.count + 1)"
        guard !stages.contains(where: { $0.name == name }) else {
            throw StoreError.stageExists(dataset: datasetName, name: name)
        }
        try Self.requireNewClasses(db, datasetId: datasetId, datasetName: datasetName, data: data)
        var stage = StageRecord(datasetId: datasetId, name: name, position: (stages.map(\.position).max() ?? -1) + 1,
                                sourceFile: data.sourceFile, createdAt: Date())
        try db.insert(&stage)
        let classIdByIndex = Dictionary(uniqueKeysWithValues: try db.insertRows(
            into: "class", columns: ["dataset_id", "stage_id", "name", "label_index"],
            rows: data.classes.enumerated().map { index, className in
                [.integer(datasetId), .integer(stage.id!), .text(className), .integer(Int64(index))]
            }, returning: "id, label_index").map { ($0["label_index"] as Int, $0["id"] as Int64) })
        let classIds = data.classes.indices.map { classIdByIndex[$0]! }
        var counts: [Split: Int] = [:]
        for sample in data.samples { counts[sample.split, default: 0] += 1 }
        // Batched: a stage of thousands of samples is a few statements, not one per row.
        try db.insertRows(
            into: "sample", columns: ["class_id", "split", "feature", "image_path", "feature_file", "feature_row", "image_sha256", "view"],
            rows: data.samples.map { sample in
                [.integer(classIds[sample.classIndex]), sample.split.storeValue, .blob(FloatBlob.encode(sample.feature)),
                 sample.imagePath.storeValue, sample.featureFile.storeValue, sample.featureRow.storeValue,
                 sample.imageSha256.storeValue, .integer(Int64(sample.view))]
            })
        return RegisteredStage(dataset: datasetName, stage: name, position: stage.position, stageId: stage.id!,
                               classes: data.classes.count, train: counts[.train] ?? 0,
                               val: counts[.val] ?? 0, test: counts[.test] ?? 0)
    }

    /// Refuses a stage that would introduce a class the dataset already has.
    public func requireNewClasses(dataset datasetName: String, data: StageData) throws {
        try read { db in
            guard let dataset = try Self.dataset(db, named: datasetName) else { return }
            try Self.requireNewClasses(db, datasetId: dataset.id!, datasetName: datasetName, data: data)
        }
    }

    static func requireNewClasses(_ db: any StoreDatabase, datasetId: Int64, datasetName: String, data: StageData) throws {
        let stageNames = Dictionary(uniqueKeysWithValues: try db.fetchAll(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ?", [datasetId])
            .map { ($0.id!, $0.name) })
        // Only the given names are looked up: a small stage costs the same in a large dataset.
        let names = String(decoding: try JSONEncoder().encode(data.classes), as: UTF8.self)
        let existing = try db.fetchAll(ClassRecord.self, "SELECT * FROM class WHERE dataset_id = ? AND \(db.dialect.isAmongJSONTexts("name"))",
                                       [datasetId, names])
        let existingByName = Dictionary(uniqueKeysWithValues: existing.map { ($0.name, $0) })
        for className in data.classes {
            if let earlier = existingByName[className] {
                throw StoreError.classRegisteredEarlier(file: data.sourceFile, line: data.firstLine[className] ?? 0,
                                                        className: className, dataset: datasetName,
                                                        stage: stageNames[earlier.stageId] ?? "?")
            }
        }
    }

    /// Writes one snapshot in one transaction. The classes of `trained` get new label-embedding
    /// rows; every other class the snapshot covers (all classes of its dataset's stages up to
    /// its own) points at the row its parent uses: copy-on-write, old rows are never written.
    /// The parent is the dataset's latest snapshot of the same method and run. Context vectors and
    /// prompt tensors not given are the parent's.
    public func writeSnapshot(_ snapshot: NewSnapshot) throws -> SnapshotRecord {
        try write(datasets: [snapshot.dataset]) { db in try writeSnapshot(db, snapshot) }
    }

    func writeSnapshot(_ db: any StoreDatabase, _ snapshot: NewSnapshot) throws -> SnapshotRecord {
        guard let model = try Self.boundModel(db) else { throw StoreError.noModel(path: path) }
        let (dataset, stage) = try Self.datasetAndStage(db, dataset: snapshot.dataset, stage: snapshot.stage)
        try Self.checkPromptTensors(snapshot)
        // The trained classes, which must be among the classes the stage covers.
        let trainedNames = String(decoding: try JSONEncoder().encode(snapshot.trained.keys.sorted()), as: UTF8.self)
        // Looked up by name (the unique index), not by scanning the stages: the cost of a
        // snapshot is its own classes, whatever the store holds (CROSS JOIN: SQLite keeps the
        // order written, class first).
        let trainedClasses = try db.fetchAll(ClassRecord.self, """
            SELECT class.* FROM class CROSS JOIN stage
            WHERE stage.id = class.stage_id AND class.dataset_id = ? AND \(db.dialect.isAmongJSONTexts("class.name"))
              AND stage.position <= ?
            ORDER BY stage.position, class.label_index
            """, [dataset.id!, trainedNames, stage.position])
        for name in snapshot.trained.keys.sorted() where !trainedClasses.contains(where: { $0.name == name }) {
            throw StoreError.notAClassOfStage(className: name, stage: stage.name)
        }
        let parent = try db.fetchOne(SnapshotRecord.self, """
            SELECT * FROM snapshot WHERE dataset_id = ? AND method = ? AND run IS NOT DISTINCT FROM ? ORDER BY id DESC LIMIT 1
            """, [dataset.id!, snapshot.method, snapshot.run?.json])
        // Every covered class that is not trained must have a row to inherit. The parent covers
        // every class of the stages up to its own (each snapshot was checked so when written),
        // so only the classes of later stages can lack one: the check costs the new stages.
        let parentPosition = try parent.map { try db.scalar(Int.self, "SELECT position FROM stage WHERE id = ?", [$0.stageId]) ?? -1 } ?? -1
        if let orphan = try db.scalar(String.self, """
            SELECT class.name FROM class JOIN stage ON stage.id = class.stage_id
            WHERE class.stage_id IN (SELECT id FROM stage WHERE dataset_id = ? AND position > ? AND position <= ?)
              AND class.name NOT IN \(db.dialect.jsonTextElements)
            ORDER BY stage.position, class.label_index LIMIT 1
            """, [dataset.id!, parentPosition, stage.position, trainedNames]) {
            throw StoreError.missingLabelEmbedding(className: orphan, snapshotStage: stage.name)
        }
        var contextId = parent?.contextVectorsId
        if let context = snapshot.contextVectors {
            let data = FloatBlob.encode(context.values)
            var record = ContextVectorsRecord(tokenCount: context.tokenCount, width: context.width, vectors: data,
                                              contentSha256: FloatBlob.sha256(data), createdAt: Date())
            try db.insert(&record)
            contextId = record.id
        }
        var record = SnapshotRecord(datasetId: dataset.id!, method: snapshot.method, stageId: stage.id!,
                                    parentId: parent?.id, contextVectorsId: contextId, createdAt: Date(),
                                    configJson: snapshot.configJSON, lossCurveJson: snapshot.lossCurveJSON, run: snapshot.run?.json)
        try db.insert(&record)
        try Self.insertPromptTensors(db, snapshot: snapshot, snapshotId: record.id!, parentId: parent?.id)
        // New rows for the trained classes.
        var rows: [[StoreValue]] = []
        for cls in trainedClasses {
            let vectors = snapshot.trained[cls.name]!
            guard vectors.width == model.tokenEmbeddingWidth else {
                throw StoreError.labelWidth(className: cls.name, expected: model.tokenEmbeddingWidth, found: vectors.width)
            }
            let data = FloatBlob.encode(vectors.values)
            rows.append([.integer(cls.id!), .integer(Int64(vectors.tokenCount)), .integer(Int64(vectors.width)), .blob(data),
                         .text(FloatBlob.sha256(data)), Date().storeValue])
        }
        let rowIdByClass = Dictionary(uniqueKeysWithValues: try db.insertRows(
            into: "label_embedding", columns: ["class_id", "token_count", "width", "vectors", "content_sha256", "created_at"],
            rows: rows, returning: "id, class_id").map { ($0["class_id"] as Int64, $0["id"] as Int64) })
        let rowIds = trainedClasses.map { rowIdByClass[$0.id!]! }
        try db.insertRows(into: "snapshot_label", columns: ["snapshot_id", "class_id", "label_embedding_id"],
                          rows: zip(trainedClasses, rowIds).map { [.integer(record.id!), .integer($0.id!), .integer($1)] })
        var features: [[StoreValue]] = []
        for (cls, rowId) in zip(trainedClasses, rowIds) {
            if let feature = snapshot.textFeatures[cls.name] {
                features.append([.integer(rowId), .integer(contextId ?? 0), .blob(FloatBlob.encode(feature))])
            }
        }
        try db.insertRows(into: "text_feature", columns: ["label_embedding_id", "context_key", "feature"], rows: features)
        // Every other covered class keeps the row its parent resolves it to: nothing to write.
        return record
    }
}

/// What `registerStage` stored.
public struct RegisteredStage: Codable, Sendable, Equatable {
    public var dataset: String
    public var stage: String
    public var position: Int
    public var stageId: Int64
    public var classes: Int
    public var train: Int
    public var val: Int
    public var test: Int
}

/// Token vectors: tokenCount x width, row-major.
public struct TokenVectors: Sendable, Equatable {
    public var tokenCount: Int
    public var width: Int
    public var values: [Float]

    public init(tokenCount: Int, width: Int, values: [Float]) {
        precondition(values.count == tokenCount * width, "TokenVectors: \(values.count) values for \(tokenCount)x\(width)")
        self.tokenCount = tokenCount
        self.width = width
        self.values = values
    }
}

/// A snapshot to write: which stage it was trained on, how, and the label vectors it trained.
public struct NewSnapshot: Sendable {
    public var dataset: String
    public var stage: String
    public var method: Method
    /// Trained label vectors by class name; every other covered class inherits its parent's row.
    public var trained: [String: TokenVectors]
    public var contextVectors: TokenVectors?
    /// MaPLe's prompt parameters besides the context (maple and maple+lamm only), stored in this
    /// order. Given none, a MaPLe snapshot holds its parent's.
    public var promptTensors: [PromptTensor] = []
    /// L2-normalised text features of trained classes' prompts, cached with their new rows.
    public var textFeatures: [String: [Float]] = [:]
    /// The sweep run the snapshot extends (its parent is the run's latest); nil for add-classes.
    public var run: RunTag?
    public var configJSON: String
    public var lossCurveJSON: String

    public init(dataset: String, stage: String, method: Method, trained: [String: TokenVectors],
                contextVectors: TokenVectors? = nil, promptTensors: [PromptTensor] = [], configJSON: String = "{}",
                lossCurveJSON: String = "[]") {
        self.dataset = dataset
        self.stage = stage
        self.method = method
        self.trained = trained
        self.contextVectors = contextVectors
        self.promptTensors = promptTensors
        self.configJSON = configJSON
        self.lossCurveJSON = lossCurveJSON
    }
}
