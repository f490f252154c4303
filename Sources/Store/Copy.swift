import Foundation

/// What `copy` moved: rows per table, and `verify` on both ends.
public struct CopyReport: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var rows: [String: Int]
    public var sourceVerified: Bool
    public var targetVerified: Bool
}

extension LabelStore {
    /// The tables a copy moves, parents before children (the triggers check each row against
    /// what it refers to), each with the columns its rows are ordered by. `published_result`
    /// is seeded by the migrations on both ends and is not copied.
    static let copiedTables: [(table: String, order: String)] = [
        ("model", "id"), ("dataset", "id"), ("stage", "id"), ("class", "id"), ("sample", "id"),
        ("label_embedding", "id"), ("context_vectors", "id"), ("snapshot", "id"),
        ("snapshot_label", "snapshot_id, class_id"), ("snapshot_tag", "name"), ("baseline", "id"), ("evaluation", "id"),
        ("text_feature", "label_embedding_id, context_key"), ("image_feature", "content_sha256, view, seed"),
        ("prompt_tensor", "snapshot_id, position"), ("prompted_image_feature", "content_sha256, prompt_sha256"),
        ("cross_evaluation", "id"), ("base_to_new_evaluation", "id"),
    ]

    /// Copies every row of this store into `target`, a new store holding nothing yet (on
    /// either backend), with the same ids, in one read of this store and one write of the
    /// target: a failed copy leaves the target as it was. Then runs `verify` on both.
    public func copy(to target: LabelStore) throws -> CopyReport {
        var counts: [String: Int] = [:]
        try read { source in
            try target.write(datasets: [" model"]) { destination in
                let held = try destination.scalar(Int.self, "SELECT (SELECT COUNT(*) FROM model) + (SELECT COUNT(*) FROM dataset)") ?? 0
                guard held == 0 else { throw StoreError.copyTargetNotEmpty(path: target.path) }
                for (table, order) in Self.copiedTables {
                    var offset = 0
                    // A few thousand rows at a time: a store of large features is never all in memory.
                    let chunk = 2_000
                    while true {
                        let rows = try source.rows("SELECT * FROM \(table) ORDER BY \(order) LIMIT ? OFFSET ?", [chunk, offset])
                        guard let first = rows.first else { break }
                        try destination.insertRows(into: table, columns: first.columns, rows: rows.map(\.values))
                        offset += rows.count
                        if rows.count < chunk { break }
                    }
                    counts[table] = offset
                }
                if destination.dialect == .postgres {
                    // Ids inserted as they were: the identity sequences go on after the largest.
                    for (table, order) in Self.copiedTables where order == "id" {
                        try destination.execute("""
                            SELECT setval(pg_get_serial_sequence('\(table)', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM \(table)
                            """)
                    }
                }
            }
        }
        return CopyReport(from: path, to: target.path, rows: counts,
                          sourceVerified: try verify().ok, targetVerified: try target.verify().ok)
    }
}
