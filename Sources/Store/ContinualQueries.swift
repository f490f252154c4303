import Formats
import Foundation
import Methods

// Reads and writes of the continual workflow: a stage's samples, a snapshot's label rows,
// cached text features, baselines and evaluations, and committing a whole stage at once.

/// The samples of one stage and split, with labels in the stage's own label space.
public struct StageSamples: Sendable {
    public var stage: StageRecord
    /// Classes of the stage in label order.
    public var classes: [ClassRecord]
    /// Image features [N, D], as stored (not normalised).
    public var features: [Float]
    /// Index into `classes` of each sample [N].
    public var labels: [Int]
    public var count: Int { labels.count }
}

/// One class's label row in a snapshot.
public struct SnapshotClassRow: Sendable {
    public var classRecord: ClassRecord
    public var stage: StageRecord
    public var labelEmbeddingId: Int64
    public var vectors: TokenVectors
}

/// Everything `add-classes` writes, committed in one transaction.
public struct StageCommit: Sendable {
    /// The stage's data, registered unless the stage exists already with the same content.
    public var dataset: String
    public var stage: String
    public var data: StageData
    /// Zero-shot CLIP accuracy on the stage's test rows (task protocol), if it has any.
    public var baseline: (correct: Int, total: Int)?
    public var snapshot: NewSnapshot?
    /// Image features encoded for this stage, cached for later stages.
    public var imageFeatures: [ImageFeatureKey: [Float]] = [:]
    /// What the stage's plan read of the store, checked again under the write lock; nil
    /// checks nothing (a caller that planned nothing).
    public var planned: PlannedState?
    /// The sweep claim the stage is trained under: the commit writes nothing unless the worker
    /// still holds it, and renews its lease.
    public var claim: ClaimHolder?

    public init(dataset: String, stage: String, data: StageData, baseline: (correct: Int, total: Int)?, snapshot: NewSnapshot?) {
        self.dataset = dataset
        self.stage = stage
        self.data = data
        self.baseline = baseline
        self.snapshot = snapshot
    }
}

/// What a stage was planned and trained on: its position among its dataset's stages and the
/// snapshot it continues. A commit whose plan no longer holds (another writer registered a
/// stage or extended the lineage meanwhile) writes nothing: the snapshot is never attached to
/// a lineage it was not trained on.
public struct PlannedState: Sendable, Equatable {
    public var position: Int
    public var parent: PlannedParent

    public init(position: Int, parent: PlannedParent) {
        self.position = position
        self.parent = parent
    }
}

public enum PlannedParent: Sendable, Equatable {
    /// The first snapshot of its lineage.
    case none
    /// The stored snapshot with this id, the lineage's latest when planned.
    case snapshot(Int64)
    /// The snapshot written just before it in the same commit.
    case previousInCommit
}

/// An image file's content and view: 0 is CLIP's centre crop, k >= 1 the k-th augmented view
/// drawn with `seed`.
public struct ImageFeatureKey: Hashable, Sendable {
    public var contentSha256: String
    public var view: Int
    public var seed: Int64

    public init(contentSha256: String, view: Int, seed: Int64) {
        self.contentSha256 = contentSha256
        self.view = view
        self.seed = seed
    }
}

public struct CommittedStage: Sendable {
    public var registered: RegisteredStage
    /// False when the stage existed with identical content and was reused.
    public var newlyRegistered: Bool
    public var snapshot: SnapshotRecord?
}

extension LabelStore {
    /// The stage named `stage` of `dataset`, if registered.
    public func stage(dataset: String, name: String) throws -> StageRecord? {
        try read { db in
            try db.fetchOne(StageRecord.self, """
                SELECT stage.* FROM stage JOIN dataset ON dataset.id = stage.dataset_id
                WHERE dataset.name = ? AND stage.name = ?
                """, [dataset, name])
        }
    }

    public func classes(ofStage stageId: Int64) throws -> [ClassRecord] {
        try read { db in try Self.labelSpace(db, stage: stageId) }
    }

    /// Whether a registered stage holds exactly `data`: the same classes in the same order and
    /// the same samples (class, split, feature) in the same order.
    public func stageMatches(_ stageId: Int64, _ data: StageData) throws -> Bool {
        try stageDifference(stageId, data) == nil
    }

    /// How `data` differs from the registered stage's content, the first difference found; nil
    /// when it is the same stage.
    public func stageDifference(_ stageId: Int64, _ data: StageData) throws -> StageDifference? {
        try read { db in try Self.stageDifference(db, stageId, data) }
    }

    static func stageMatches(_ db: any StoreDatabase, _ stageId: Int64, _ data: StageData) throws -> Bool {
        try stageDifference(db, stageId, data) == nil
    }

    static func stageDifference(_ db: any StoreDatabase, _ stageId: Int64, _ data: StageData) throws -> StageDifference? {
        let (classes, index, samples) = try stageContent(db, stageId)
        guard classes.map(\.name) == data.classes else { return .classes(registered: classes.map(\.name)) }
        guard samples.count == data.samples.count else { return .sampleCount(registered: samples.count) }
        for (row, (stored, given)) in zip(samples, data.samples).enumerated() {
            if index[stored.classId] != given.classIndex || stored.split != given.split { return .sampleLabel(row: row) }
            if stored.feature != FloatBlob.encode(given.feature) { return .feature(row: row) }
        }
        return nil
    }

    /// A registered stage as the StageData it was registered from: its classes in label order
    /// and its samples in registration order (features, images, views), so that training it
    /// again (a sweep) reuses the stage as it is.
    public func registeredStageData(stage stageId: Int64) throws -> StageData {
        try read { db in
            guard let stage = try db.fetchOne(StageRecord.self, id: stageId) else {
                throw StoreError.unknownStage(dataset: "?", name: "#\(stageId)")
            }
            let (classes, index, stored) = try Self.stageContent(db, stageId)
            let width = try Self.model(db, path: path).featureWidth
            let samples = try stored.map { sample in
                Sample(classIndex: index[sample.classId]!, split: sample.split,
                          feature: try FloatBlob.decode(sample.feature, count: width, path: path, table: "sample", row: "\(sample.id!)", column: "feature"),
                          imagePath: sample.imagePath, featureFile: sample.featureFile, featureRow: sample.featureRow,
                          imageSha256: sample.imageSha256, view: sample.view)
            }
            return StageData(sourceFile: stage.sourceFile ?? stage.name, classes: classes.map(\.name), samples: samples, firstLine: [:])
        }
    }

    /// The content hash of a registered stage (`StageData.contentSHA256` of what it holds).
    static func stageContentSHA256(_ db: any StoreDatabase, _ stageId: Int64) throws -> String {
        var hasher = StageHasher()
        let (classes, index, samples) = try stageContent(db, stageId)
        for cls in classes { hasher.add(className: cls.name) }
        for sample in samples { hasher.add(classIndex: index[sample.classId] ?? -1, split: sample.split, feature: sample.feature) }
        return hasher.finalize()
    }

    /// A registered stage's classes in label order (with each class id's label index) and its
    /// samples in registration order.
    static func stageContent(_ db: any StoreDatabase, _ stageId: Int64) throws
        -> (classes: [ClassRecord], index: [Int64: Int], samples: [SampleRecord]) {
        let classes = try labelSpace(db, stage: stageId)
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1.id!, $0) })
        let samples = try db.fetchAll(SampleRecord.self, """
            SELECT sample.* FROM sample JOIN class ON class.id = sample.class_id
            WHERE class.stage_id = ? ORDER BY sample.id
            """, [stageId])
        return (classes, index, samples)
    }

    public func sampleCount(stage stageId: Int64, split: Split) throws -> Int {
        try read { db in
            try db.scalar(Int.self, """
                SELECT COUNT(*) FROM sample JOIN class ON class.id = sample.class_id WHERE class.stage_id = ? AND sample.split = ?
                """, [stageId, split])!
        }
    }

    /// The samples of a stage in one split.
    public func samples(stage stageId: Int64, split: Split) throws -> StageSamples {
        try read { db in
            guard let stage = try db.fetchOne(StageRecord.self, id: stageId) else {
                throw StoreError.unknownStage(dataset: "?", name: "#\(stageId)")
            }
            let classes = try Self.labelSpace(db, stage: stageId)
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1.id!, $0) })
            let width = try Self.model(db, path: path).featureWidth
            var result = StageSamples(stage: stage, classes: classes, features: [], labels: [])
            let rows = try db.rows("""
                SELECT sample.id, sample.class_id, sample.feature FROM sample JOIN class ON class.id = sample.class_id
                WHERE class.stage_id = ? AND sample.split = ? ORDER BY sample.id
                """, [stageId, split])
            result.features.reserveCapacity(rows.count * width)
            for row in rows {
                result.labels.append(index[row[1] as Int64]!)
                result.features += try FloatBlob.decode(row[2], count: width, path: path, table: "sample", row: "\(row[0] as Int64)", column: "feature")
            }
            return result
        }
    }

    /// Every class's label row in a snapshot, in stage then label order.
    public func labelRows(snapshot id: Int64) throws -> [SnapshotClassRow] {
        try read { db in
            _ = try Self.requireSnapshot(db, id)
            let stages = Dictionary(uniqueKeysWithValues: try db.fetchAll(StageRecord.self, "SELECT * FROM stage").map { ($0.id!, $0) })
            return try db.rows("""
                \(Self.resolvedLabels)
                SELECT class.*, le.id AS le_id, le.token_count, le.width, le.vectors
                \(Self.snapshotLabels) \(Self.stageLabelOrder)
                """, [id]).map { row in
                let record = try RowDecoder.decode(ClassRecord.self, from: row)
                return SnapshotClassRow(classRecord: record, stage: stages[record.stageId]!, labelEmbeddingId: row["le_id"],
                                        vectors: try tokenVectors(row["vectors"], tokens: row["token_count"], width: row["width"],
                                                                  table: "label_embedding", row: row["le_id"]))
            }
        }
    }

    /// The snapshot and its ancestors, newest first. A damaged store whose parents loop is an
    /// error, not an endless walk.
    public func lineage(of id: Int64) throws -> [SnapshotRecord] {
        try read { db in
            _ = try Self.requireSnapshot(db, id)
            var chain: [SnapshotRecord] = []
            var seen = Set<Int64>()
            var next: Int64? = id
            while let current = next, let record = try db.fetchOne(SnapshotRecord.self, id: current) {
                guard seen.insert(current).inserted else { throw StoreError.damagedLineage(path: path, snapshot: id) }
                chain.append(record)
                next = record.parentId
            }
            return chain
        }
    }

    /// Token vectors read from the store, their blob checked against their shape.
    func tokenVectors(_ data: Data, tokens: Int, width: Int, table: String, row: Int64) throws -> TokenVectors {
        let row = "\(row)"
        guard tokens > 0, width > 0, tokens <= Int.max / width / 4 else {
            throw StoreError.damagedBlob(path: path, table: table, row: row, column: "vectors", bytes: data.count, expected: 0)
        }
        let values = try FloatBlob.decode(data, count: tokens * width, path: path, table: table, row: row, column: "vectors")
        return TokenVectors(tokenCount: tokens, width: width, values: values)
    }

    static func model(_ db: any StoreDatabase, path: String) throws -> ModelRecord {
        guard let model = try boundModel(db) else { throw StoreError.noModel(path: path) }
        return model
    }

    public func snapshotRecord(_ id: Int64) throws -> SnapshotRecord {
        try read { db in try Self.requireSnapshot(db, id) }
    }

    /// The snapshot's record, or `StoreError.unknownSnapshot` naming the latest there is.
    static func requireSnapshot(_ db: any StoreDatabase, _ id: Int64) throws -> SnapshotRecord {
        guard let record = try db.fetchOne(SnapshotRecord.self, id: id) else {
            throw StoreError.unknownSnapshot(id: id, latest: try db.scalar(Int64.self, "SELECT MAX(id) FROM snapshot"))
        }
        return record
    }

    public func contextVectors(_ id: Int64) throws -> TokenVectors? {
        try read { db in
            try db.fetchOne(ContextVectorsRecord.self, id: id).map {
                try tokenVectors($0.vectors, tokens: $0.tokenCount, width: $0.width, table: "context_vectors", row: id)
            }
        }
    }

    // MARK: Text features

    /// Cached features of label rows (with the given context; 0 for none), by row id.
    public func cachedTextFeatures(labelEmbeddingIds ids: [Int64], contextKey: Int64) throws -> [Int64: [Float]] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            let width = try Self.model(db, path: path).featureWidth
            var result: [Int64: [Float]] = [:]
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let records = try db.fetchAll(TextFeatureRecord.self, """
                    SELECT * FROM text_feature WHERE context_key = ? AND label_embedding_id IN (\(placeholders(chunk.count)))
                    """, [contextKey] + chunk)
                for record in records {
                    result[record.labelEmbeddingId] = try FloatBlob.decode(
                        record.feature, count: width, path: path, table: "text_feature",
                        row: "(label_embedding_id \(record.labelEmbeddingId), context_key \(contextKey))", column: "feature")
                }
            }
            return result
        }
    }

    /// Caches computed text features when the store can be written without waiting (see
    /// `writeIfFree`); a reader leaves them to be computed again next time.
    public func cacheTextFeatures(_ features: [Int64: [Float]], contextKey: Int64) throws {
        guard !features.isEmpty else { return }
        _ = try writeIfFree { db in
            for (id, feature) in features { try Self.insertTextFeature(db, labelEmbeddingId: id, contextKey: contextKey, feature: feature) }
        }
    }

    static func insertTextFeature(_ db: any StoreDatabase, labelEmbeddingId: Int64, contextKey: Int64, feature: [Float]) throws {
        try db.insert(TextFeatureRecord(labelEmbeddingId: labelEmbeddingId, contextKey: contextKey, feature: FloatBlob.encode(feature)),
                      ignoringConflicts: true)
    }

    // MARK: Image features

    /// Cached features of image contents and views.
    public func cachedImageFeatures(_ keys: [ImageFeatureKey]) throws -> [ImageFeatureKey: [Float]] {
        try read { db in
            let width = try Self.model(db, path: path).featureWidth
            var result: [ImageFeatureKey: [Float]] = [:]
            for key in keys {
                if let record = try db.fetchOne(ImageFeatureRecord.self, """
                    SELECT * FROM image_feature WHERE content_sha256 = ? AND view = ? AND seed = ?
                    """, [key.contentSha256, key.view, key.seed]) {
                    result[key] = try FloatBlob.decode(record.feature, count: width, path: path, table: "image_feature",
                                                       row: "(content_sha256 \(key.contentSha256.prefix(12))..., view \(key.view))",
                                                       column: "feature")
                }
            }
            return result
        }
    }

    // MARK: Baselines and evaluations

    public func baseline(stage stageId: Int64, split: Split, protocol: Protocol) throws -> BaselineRecord? {
        try read { db in
            try db.fetchOne(BaselineRecord.self, "SELECT * FROM baseline WHERE stage_id = ? AND split = ? AND protocol = ?",
                            [stageId, split, `protocol`])
        }
    }

    /// The latest stored evaluation of a snapshot on a stage.
    public func latestEvaluation(snapshot: Int64, stage: Int64, split: Split, protocol: Protocol) throws -> EvaluationRecord? {
        try read { db in
            try db.fetchOne(EvaluationRecord.self, """
                SELECT * FROM evaluation WHERE snapshot_id = ? AND stage_id = ? AND split = ? AND protocol = ? ORDER BY id DESC LIMIT 1
                """, [snapshot, stage, split, `protocol`])
        }
    }

    /// Stores evaluations and baselines computed together, in one transaction, when the store
    /// can be written without waiting; returns whether they were stored.
    @discardableResult
    public func record(evaluations: [EvaluationRecord], baselines: [BaselineRecord] = []) throws -> Bool {
        try writeIfFree { db in
            for var evaluation in evaluations { try db.insert(&evaluation) }
            for baseline in baselines { try db.insert(baseline, ignoringConflicts: true) }
        }
    }

    /// Stores cross-dataset evaluations when the store is free (as `record(evaluations:)`).
    public func record(crossEvaluations: [CrossEvaluationRecord]) throws -> Bool {
        try writeIfFree { db in
            for var evaluation in crossEvaluations { try db.insert(&evaluation) }
        }
    }

    /// The newest cross-dataset evaluation of each (snapshot, stage, split) of `dataset`'s
    /// snapshots in `split`, by snapshot, with the dataset and stage evaluated on.
    public func latestCrossEvaluations(ofSnapshotsOf dataset: String, split: Split) throws -> [StoredCrossEvaluation] {
        try read { db in
            try db.rows("""
                SELECT ce.*, od.name AS on_dataset, os.name AS on_stage
                FROM cross_evaluation ce JOIN snapshot s ON s.id = ce.snapshot_id JOIN dataset d ON d.id = s.dataset_id
                JOIN stage os ON os.id = ce.stage_id JOIN dataset od ON od.id = os.dataset_id
                WHERE d.name = ? AND ce.split = ? AND ce.id = (SELECT MAX(x.id) FROM cross_evaluation x
                                                               WHERE x.snapshot_id = ce.snapshot_id AND x.stage_id = ce.stage_id AND x.split = ce.split)
                ORDER BY ce.snapshot_id, od.name, os.position
                """, [dataset, split]).map { row in
                StoredCrossEvaluation(record: try RowDecoder.decode(CrossEvaluationRecord.self, from: row), onDataset: row["on_dataset"], onStage: row["on_stage"])
            }
        }
    }

    /// Stores a base-to-new evaluation when the store is free (as `record(evaluations:)`).
    public func record(baseToNew evaluation: BaseToNewEvaluationRecord) throws -> Bool {
        try writeIfFree { db in
            var evaluation = evaluation
            try db.insert(&evaluation)
        }
    }

    /// The newest base-to-new evaluation of each (snapshot, new stage, split) of `dataset`'s
    /// snapshots in `split`, by snapshot, with the dataset and stage of the new classes.
    public func latestBaseToNewEvaluations(ofSnapshotsOf dataset: String, split: Split) throws -> [StoredBaseToNewEvaluation] {
        try read { db in
            try db.rows("""
                SELECT b.*, od.name AS on_dataset, os.name AS on_stage
                FROM base_to_new_evaluation b JOIN snapshot s ON s.id = b.snapshot_id JOIN dataset d ON d.id = s.dataset_id
                JOIN stage os ON os.id = b.stage_id JOIN dataset od ON od.id = os.dataset_id
                WHERE d.name = ? AND b.split = ? AND b.id = (SELECT MAX(x.id) FROM base_to_new_evaluation x
                                                             WHERE x.snapshot_id = b.snapshot_id AND x.stage_id = b.stage_id AND x.split = b.split)
                ORDER BY b.snapshot_id, od.name, os.position
                """, [dataset, split]).map { row in
                StoredBaseToNewEvaluation(record: try RowDecoder.decode(BaseToNewEvaluationRecord.self, from: row),
                                          onDataset: row["on_dataset"], onStage: row["on_stage"])
            }
        }
    }

    // MARK: Committing a stage

    /// Registers the stage (or reuses it when it exists with identical content), stores its
    /// baseline and writes the snapshot, all in one transaction.
    public func commit(_ commit: StageCommit) throws -> CommittedStage {
        try self.commit([commit])[0]
    }

    /// Commits stages in order, all in one transaction: a stage's snapshot is the parent of the
    /// next one's of the same method. An error in any leaves the store as it was.
    public func commit(_ commits: [StageCommit]) throws -> [CommittedStage] {
        try write(datasets: commits.map(\.dataset)) { db in
            var previous: Int64?
            return try commits.map {
                let committed = try commit(db, $0, previousInCommit: previous)
                if let id = committed.snapshot?.id { previous = id }
                return committed
            }
        }
    }

    func commit(_ db: any StoreDatabase, _ commit: StageCommit, previousInCommit: Int64? = nil) throws -> CommittedStage {
        var registered: RegisteredStage
        var newlyRegistered = false
        if let existing = try db.fetchOne(StageRecord.self, """
            SELECT stage.* FROM stage JOIN dataset ON dataset.id = stage.dataset_id WHERE dataset.name = ? AND stage.name = ?
            """, [commit.dataset, commit.stage]) {
            // Checked again under the write lock: another process may have registered the stage,
            // with other samples, while this one trained. The same samples are the same stage.
            guard try Self.stageMatches(db, existing.id!, commit.data) else {
                throw StoreError.stageChangedMeanwhile(dataset: commit.dataset, stage: commit.stage)
            }
            var counts: [Split: Int] = [:]
            for sample in commit.data.samples { counts[sample.split, default: 0] += 1 }
            registered = RegisteredStage(dataset: commit.dataset, stage: commit.stage, position: existing.position,
                                         stageId: existing.id!, classes: commit.data.classes.count, train: counts[.train] ?? 0,
                                         val: counts[.val] ?? 0, test: counts[.test] ?? 0)
        } else {
            registered = try registerStage(db, dataset: commit.dataset, stage: commit.stage, data: commit.data)
            newlyRegistered = true
        }
        if let planned = commit.planned {
            var changes: [String] = []
            if registered.position != planned.position {
                let others = try db.scalars(String.self, "SELECT name FROM stage WHERE dataset_id = (SELECT dataset_id FROM stage WHERE id = ?) ORDER BY position",
                                            [registered.stageId]).filter { $0 != commit.stage }
                changes.append("stage \(commit.stage) would be its stage \(registered.position + 1), where it was planned as stage \(planned.position + 1) "
                               + "(the dataset's other stages are now \(others.joined(separator: ", ")))")
            }
            if let snapshot = commit.snapshot,
               let change = try Self.plannedParentChange(db, planned.parent, of: snapshot, previousInCommit: previousInCommit) {
                changes.append(change)
            }
            if !changes.isEmpty {
                throw StoreError.planChangedMeanwhile(dataset: commit.dataset, stage: commit.stage, change: changes.joined(separator: "; and "))
            }
        }
        if let claim = commit.claim, !(try Self.renewClaim(db, claim)) {
            throw StoreError.claimLost(dataset: commit.dataset, stage: commit.stage,
                                       run: commit.snapshot.map { "\($0.method.rawValue), \($0.run?.description ?? "")" } ?? "?", worker: claim.worker)
        }
        if let baseline = commit.baseline, baseline.total > 0 {
            let record = BaselineRecord(stageId: registered.stageId, split: .test, protocol: .task, correct: baseline.correct,
                                        total: baseline.total, accuracy: 100 * Double(baseline.correct) / Double(baseline.total),
                                        computedAt: Date())
            try db.insert(record, ignoringConflicts: true)
        }
        for (key, feature) in commit.imageFeatures.sorted(by: { ($0.key.contentSha256, $0.key.view) < ($1.key.contentSha256, $1.key.view) }) {
            try db.execute("INSERT INTO image_feature (content_sha256, view, seed, feature) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [key.contentSha256, key.view, key.seed, FloatBlob.encode(feature)])
        }
        let snapshot = try commit.snapshot.map { try writeSnapshot(db, $0) }
        return CommittedStage(registered: registered, newlyRegistered: newlyRegistered, snapshot: snapshot)
    }

    /// The dataset's latest snapshot of a method and run.
    static func latestSnapshot(_ db: any StoreDatabase, dataset: String, method: Method, run: RunTag?) throws -> SnapshotRecord? {
        try db.fetchOne(SnapshotRecord.self, """
            SELECT snapshot.* FROM snapshot JOIN dataset ON dataset.id = snapshot.dataset_id
            WHERE dataset.name = ? AND snapshot.method = ? AND snapshot.run IS NOT DISTINCT FROM ? ORDER BY snapshot.id DESC LIMIT 1
            """, [dataset, method, run?.json])
    }

    /// How a snapshot's lineage changed since its stage was planned (another writer extended
    /// it), or nil.
    static func plannedParentChange(_ db: any StoreDatabase, _ planned: PlannedParent, of snapshot: NewSnapshot,
                                    previousInCommit: Int64?) throws -> String? {
        let expected: Int64?
        switch planned {
        case .none: expected = nil
        case .snapshot(let id): expected = id
        case .previousInCommit: expected = previousInCommit
        }
        let latest = try latestSnapshot(db, dataset: snapshot.dataset, method: snapshot.method, run: snapshot.run)
        guard latest?.id != expected else { return nil }
        let lineage = snapshot.method.rawValue + (snapshot.run.map { " (\($0.description))" } ?? "")
        var change = "the latest \(lineage) snapshot is now "
        if let latest {
            let stage = try db.scalar(String.self, "SELECT name FROM stage WHERE id = ?", [latest.stageId]) ?? "?"
            change += "snapshot \(latest.id!) (stage \(stage))"
        } else {
            change += "none"
        }
        return change + ", where this command trained from " + (expected.map { "snapshot \($0)" } ?? "no snapshot (the lineage's first)")
    }
}
