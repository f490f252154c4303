import Formats
import Foundation
import Methods

// MARK: - Reads

extension LabelStore {
    public func model() throws -> ModelRecord? {
        try read { db in try Self.boundModel(db) }
    }

    public func requireModel() throws -> ModelRecord {
        guard let model = try model() else { throw StoreError.noModel(path: path) }
        return model
    }

    public func datasetNames() throws -> [String] {
        try read { db in try Self.datasetNames(db) }
    }

    /// Every class of the dataset with the stage that registered it, in stage then label order;
    /// none for a dataset not in the store.
    public func registeredClasses(dataset name: String) throws -> [(className: String, stage: String)] {
        try read { db in
            try db.rows("""
                SELECT class.name AS class_name, stage.name AS stage_name FROM class JOIN stage ON stage.id = class.stage_id
                JOIN dataset ON dataset.id = class.dataset_id WHERE dataset.name = ? ORDER BY stage.position, class.label_index
                """, [name]).map { (className: $0["class_name"], stage: $0["stage_name"]) }
        }
    }

    /// The dataset named `name`, or, when `name` is nil, the store's only dataset.
    public func resolveDataset(_ name: String?) throws -> DatasetRecord {
        try read { db in
            let all = try db.fetchAll(DatasetRecord.self, "SELECT * FROM dataset ORDER BY id")
            if let name {
                guard let found = all.first(where: { $0.name == name }) else {
                    throw StoreError.unknownDataset(name: name, known: all.map(\.name))
                }
                return found
            }
            guard !all.isEmpty else { throw StoreError.noDatasets }
            guard all.count == 1 else { throw StoreError.ambiguousDataset(known: all.map(\.name)) }
            return all[0]
        }
    }

    public func stages(of datasetId: Int64) throws -> [StageRecord] {
        try read { db in
            try db.fetchAll(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ? ORDER BY position", [datasetId])
        }
    }

    static func datasetAndStage(_ db: any StoreDatabase, dataset name: String, stage stageName: String) throws -> (DatasetRecord, StageRecord) {
        guard let dataset = try dataset(db, named: name) else {
            throw StoreError.unknownDataset(name: name, known: try datasetNames(db))
        }
        guard let stage = try db.fetchOne(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ? AND name = ?", [dataset.id!, stageName]) else {
            throw StoreError.unknownStage(dataset: name, name: stageName)
        }
        return (dataset, stage)
    }

    /// Every table's rows as text, in a stable order: equal dumps mean logically equal stores
    /// (tests use it to show that a failed command changed nothing).
    public func contentDump() throws -> String {
        try read(Self.contentDump)
    }

    static func contentDump(_ db: any StoreDatabase) throws -> String {
        // Receipts of writes are not content (Migrations/0008_write_receipt.sql).
        try db.scalars(String.self, db.dialect.tableNamesQuery).filter { $0 != "write_receipt" }.map { table in
            let rows = try db.rows("SELECT * FROM \"\(table)\"").map(\.description).sorted()
            return "\(table): " + rows.joined(separator: "; ")
        }.joined(separator: "\n")
    }

    /// The paper's published cells of one of its tables (Migrations/0002_published_results.sql).
    public func publishedResults(table: Int) throws -> [PublishedResultRecord] {
        try read { db in try db.fetchAll(PublishedResultRecord.self, "SELECT * FROM published_result WHERE table_number = ? ORDER BY id", [table]) }
    }

    public func latestSnapshotId() throws -> Int64? {
        try read { db in try db.scalar(Int64.self, "SELECT MAX(id) FROM snapshot") }
    }

    public func snapshots(dataset: String? = nil) throws -> [SnapshotSummary] {
        try read { db in
            var sql = Self.summarySQL
            var arguments: [any StoreValueConvertible] = []
            if let dataset {
                guard try Self.dataset(db, named: dataset) != nil else {
                    throw StoreError.unknownDataset(name: dataset, known: try Self.datasetNames(db))
                }
                sql += " WHERE dataset.name = ?"
                arguments = [dataset]
            }
            let tags = try Self.tagsBySnapshot(db)
            return try db.rows(sql + " ORDER BY snapshot.id", arguments).map { row in
                var summary = SnapshotSummary(row: row)
                summary.tags = tags[summary.id] ?? []
                return summary
            }
        }
    }

    /// Every snapshot's names (`tag`), sorted.
    static func tagsBySnapshot(_ db: any StoreDatabase) throws -> [Int64: [String]] {
        var tags: [Int64: [String]] = [:]
        for row in try db.rows("SELECT name, snapshot_id FROM snapshot_tag ORDER BY name") {
            tags[row["snapshot_id"] as Int64, default: []].append(row["name"])
        }
        return tags
    }

    static let summarySQL = """
        SELECT snapshot.id, dataset.name AS dataset, snapshot.method, stage.name AS stage, snapshot.parent_id AS parent,
               snapshot.created_at, snapshot.run,
               (SELECT COUNT(*) FROM class JOIN stage cs ON cs.id = class.stage_id
                  WHERE class.dataset_id = snapshot.dataset_id AND cs.position <= stage.position) AS classes,
               (SELECT COUNT(*) FROM snapshot_label sl WHERE sl.snapshot_id = snapshot.id) AS trained_classes
        FROM snapshot JOIN dataset ON dataset.id = snapshot.dataset_id JOIN stage ON stage.id = snapshot.stage_id
        """

    public func snapshotSummary(_ id: Int64) throws -> SnapshotSummary {
        try read { db in
            guard let row = try db.rows(Self.summarySQL + " WHERE snapshot.id = ?", [id]).first else {
                throw StoreError.unknownSnapshot(id: id, latest: try db.scalar(Int64.self, "SELECT MAX(id) FROM snapshot"))
            }
            var summary = SnapshotSummary(row: row)
            summary.tags = try Self.tagsBySnapshot(db)[id] ?? []
            return summary
        }
    }

    /// A snapshot with its configuration, loss curve, prompt tensors and every class's label row.
    public func snapshotDetail(_ id: Int64) throws -> SnapshotDetail {
        let summary = try snapshotSummary(id)
        return try read { db in
            let record = try db.fetchOne(SnapshotRecord.self, id: id)!
            let context = try record.contextVectorsId.flatMap { try db.fetchOne(ContextVectorsRecord.self, id: $0) }
            let labels = try db.fetchAll(LabelEntry.self, """
                \(Self.resolvedLabels)
                SELECT class.name AS class_name, stage.name AS stage, class.label_index, sl.label_embedding_id,
                       le.token_count, le.width, le.content_sha256, sl.snapshot_id AS introduced_by
                \(Self.snapshotLabels) \(Self.stageLabelOrder)
                """, [id])
            let tensors = try storedPromptTensors(db, snapshot: id).map {
                PromptTensorInfo(name: $0.tensor.name, shape: $0.tensor.shape, l2Norm: $0.tensor.l2Norm, contentSha256: $0.contentSha256)
            }
            return SnapshotDetail(
                summary: summary,
                config: (try? JSONValue(parsing: record.configJson)) ?? .string(record.configJson),
                lossCurve: (try? JSONValue(parsing: record.lossCurveJson)) ?? .string(record.lossCurveJson),
                contextVectors: context.map { VectorsInfo(id: $0.id!, tokenCount: $0.tokenCount, width: $0.width, contentSha256: $0.contentSha256) },
                promptTensors: tensors.isEmpty ? nil : tensors,
                labels: labels)
        }
    }

    /// Every class's label vectors in a snapshot, in stage then label order.
    public func labelVectors(snapshot id: Int64) throws -> [ClassLabelVectors] {
        try labelRows(snapshot: id).map { ClassLabelVectors(className: $0.classRecord.name, stage: $0.stage.name, vectors: $0.vectors) }
    }

    /// A snapshot's label rows, resolved through its lineage: each class it covers takes the
    /// row of the nearest snapshot (itself, its parent, ...) that maps it, which is the snapshot
    /// that trained it last. The one `?` is the snapshot's id; parents are always older
    /// snapshots, so the walk ends even in a damaged store. Used as
    /// `\(resolvedLabels) SELECT ... \(snapshotLabels) \(stageLabelOrder)`; `sl.snapshot_id` is
    /// the snapshot that wrote the row.
    static let resolvedLabels = """
        WITH RECURSIVE lineage(id, depth) AS (
            SELECT id, 0 FROM snapshot WHERE id = ?
            UNION ALL
            SELECT s.parent_id, l.depth + 1 FROM lineage l JOIN snapshot s ON s.id = l.id
            WHERE s.parent_id IS NOT NULL AND s.parent_id < s.id
        ), mapped AS (
            SELECT sl.snapshot_id, sl.class_id, sl.label_embedding_id,
                   ROW_NUMBER() OVER (PARTITION BY sl.class_id ORDER BY l.depth) AS nearness
            FROM lineage l JOIN snapshot_label sl ON sl.snapshot_id = l.id
        )
        """
    static let snapshotLabels = """
        FROM mapped sl
        JOIN class ON class.id = sl.class_id
        JOIN stage ON stage.id = class.stage_id
        JOIN label_embedding le ON le.id = sl.label_embedding_id
        WHERE sl.nearness = 1
        """
    static let stageLabelOrder = "ORDER BY stage.position, class.label_index"

    /// Which classes' label rows differ between two snapshots of one dataset.
    public func diff(_ a: Int64, _ b: Int64) throws -> SnapshotDiff {
        let (left, right) = (try snapshotDetail(a), try snapshotDetail(b))
        guard left.summary.dataset == right.summary.dataset else {
            throw StoreError.snapshotsOfDifferentDatasets(a: a, b: b)
        }
        let leftLabels = Dictionary(uniqueKeysWithValues: left.labels.map { ($0.className, $0) })
        let rightLabels = Dictionary(uniqueKeysWithValues: right.labels.map { ($0.className, $0) })
        var changes: [ClassChange] = []
        var unchanged = 0
        // Stage then label order: the right snapshot's order, then classes only the left has.
        let order = right.labels.map(\.className) + left.labels.map(\.className).filter { rightLabels[$0] == nil }
        for name in order {
            let (l, r) = (leftLabels[name], rightLabels[name])
            if let l, let r, l.labelEmbeddingId == r.labelEmbeddingId {
                unchanged += 1
                continue
            }
            let kind: ClassChange.Kind = l == nil ? .added : r == nil ? .removed : .changed
            changes.append(ClassChange(className: name, stage: (r ?? l)!.stage, change: kind,
                                       rowA: l?.labelEmbeddingId, rowB: r?.labelEmbeddingId,
                                       sha256A: l?.contentSha256, sha256B: r?.contentSha256,
                                       sameContent: l != nil && r != nil && l!.contentSha256 == r!.contentSha256))
        }
        return SnapshotDiff(a: a, b: b, dataset: left.summary.dataset, unchanged: unchanged, changed: changes,
                            promptTensors: left.promptTensors == nil && right.promptTensors == nil ? nil
                                : try promptTensorChanges(a, b))
    }

    /// Each prompt tensor of either snapshot, in B's order then those only A holds, with the L2
    /// norm of B - A where both hold it with the same shape.
    func promptTensorChanges(_ a: Int64, _ b: Int64) throws -> [PromptTensorChange] {
        let (left, right) = (try promptTensors(snapshot: a), try promptTensors(snapshot: b))
        let leftByName = Dictionary(uniqueKeysWithValues: left.map { ($0.name, $0) })
        let rightNames = Set(right.map(\.name))
        return (right + left.filter { !rightNames.contains($0.name) }).map { tensor in
            let l = leftByName[tensor.name], r = rightNames.contains(tensor.name) ? tensor : nil
            var change: Double?
            if let l, let r, l.shape == r.shape {
                change = zip(l.values, r.values).reduce(0) { sum, pair in
                    let d = Double(pair.1) - Double(pair.0)
                    return sum + d * d
                }.squareRoot()
            }
            return PromptTensorChange(name: tensor.name, shapeA: l?.shape, shapeB: r?.shape, l2Change: change)
        }
    }
}

/// `parent` is written as null for a lineage's first snapshot rather than left out.
public struct SnapshotSummary: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var id: Int64
    public var dataset: String
    public var method: Method
    public var stage: String
    public var parent: Int64?
    public var createdAt: Date
    /// Classes the snapshot maps.
    public var classes: Int
    /// Classes whose label rows this snapshot introduced (the rest are inherited).
    public var trainedClasses: Int
    /// The sweep run whose lineage the snapshot belongs to; nil for the add-classes lineage.
    public var run: RunTag?
    /// The names on the snapshot (`lamm-store tag`).
    public var tags: [String] = []

    public init(row: StoreRow) {
        id = row["id"]
        dataset = row["dataset"]
        method = row["method"]
        stage = row["stage"]
        parent = row["parent"]
        createdAt = row["created_at"]
        classes = row["classes"]
        trainedClasses = row["trained_classes"]
        run = RunTag(json: row["run"])
    }
}

public struct LabelEntry: StoreRecord, Equatable {
    public static let databaseTableName = "snapshot_label"
    public var className: String
    public var stage: String
    public var labelIndex: Int
    public var labelEmbeddingId: Int64
    public var tokenCount: Int
    public var width: Int
    public var contentSha256: String
    /// The first snapshot that used this row: the one that trained it.
    public var introducedBy: Int64
}

public struct VectorsInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var tokenCount: Int
    public var width: Int
    public var contentSha256: String
}

public struct SnapshotDetail: Codable, Sendable, Equatable {
    public var summary: SnapshotSummary
    public var config: JSONValue
    public var lossCurve: JSONValue
    public var contextVectors: VectorsInfo?
    /// MaPLe's prompt tensors in their stored order; nil (left out of JSON) when it holds none.
    public var promptTensors: [PromptTensorInfo]?
    public var labels: [LabelEntry]
}

public struct ClassLabelVectors: Sendable, Equatable {
    public var className: String
    public var stage: String
    public var vectors: TokenVectors
}

public struct ClassChange: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case changed, added, removed }
    public var className: String
    public var stage: String
    public var change: Kind
    public var rowA: Int64?
    public var rowB: Int64?
    public var sha256A: String?
    public var sha256B: String?
    /// Different rows holding identical vectors.
    public var sameContent: Bool
}

public struct SnapshotDiff: Codable, Sendable, Equatable {
    public var a: Int64
    public var b: Int64
    public var dataset: String
    public var unchanged: Int
    public var changed: [ClassChange]
    /// The prompt tensors of either snapshot; nil (left out of JSON) when neither holds any.
    public var promptTensors: [PromptTensorChange]?
}
