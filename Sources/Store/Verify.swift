import Formats
import Foundation
import Methods

/// The result of `verify`: each check with the problems it found.
public struct VerifyReport: Codable, Sendable, Equatable {
    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var problems: [String]
        public var ok: Bool { problems.isEmpty }

        enum CodingKeys: String, CodingKey { case name, ok, problems }
        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(ok, forKey: .ok)
            try container.encode(problems, forKey: .problems)
        }
        public init(name: String, problems: [String]) {
            self.name = name
            self.problems = problems
        }
        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            problems = try container.decode([String].self, forKey: .problems)
        }
    }

    public var checks: [Check]
    public var ok: Bool { checks.allSatisfy(\.ok) }

    enum CodingKeys: String, CodingKey { case ok, checks }
    public init(checks: [Check]) { self.checks = checks }
    public init(from decoder: Decoder) throws {
        checks = try decoder.container(keyedBy: CodingKeys.self).decode([Check].self, forKey: .checks)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(checks, forKey: .checks)
    }
}

extension LabelStore {
    /// Recomputes content hashes and checks the invariants the schema cannot state alone.
    public func verify() throws -> VerifyReport {
        try read { db in
            var checks: [VerifyReport.Check] = []
            func check(_ name: String, _ body: () throws -> [String]) rethrows {
                checks.append(.init(name: name, problems: try body()))
            }
            switch db.dialect {
            case .sqlite:
                try check("sqlite integrity_check") {
                    try db.scalars(String.self, "PRAGMA integrity_check").filter { $0 != "ok" }
                }
                try check("foreign keys") {
                    try db.rows("PRAGMA foreign_key_check").map { row in
                        "\(row[0] as String? ?? "?") row \(row[1] as Int64? ?? -1) refers to a missing \(row[2] as String? ?? "?") row"
                    }
                }
            case .postgres:
                // The server enforces constraints and triggers while they are in force: none may
                // be switched off or left unvalidated.
                try check("postgresql triggers") {
                    try db.scalars(String.self, """
                        SELECT c.relname || '.' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgenabled = 'D' ORDER BY 1
                        """).map { "trigger \($0) is disabled" }
                }
                try check("foreign keys") {
                    try db.scalars(String.self, """
                        SELECT c.relname || '.' || k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = current_schema() AND NOT k.convalidated ORDER BY 1
                        """).map { "constraint \($0) is not validated" }
                }
            }
            try check("schema") {
                let applied = try db.scalars(String.self, "SELECT identifier FROM \(db.dialect.migrationsTable) ORDER BY identifier")
                let known = db.dialect.migrations.map(\.identifier)
                return applied == known ? [] : ["applied migrations \(applied) differ from this binary's \(known)"]
            }
            let model = try Self.boundModel(db)
            check("model") { model == nil ? ["the store is bound to no model"] : [] }
            try check("label embedding hashes") {
                try db.rows("SELECT id, class_id, vectors, content_sha256 FROM label_embedding").compactMap { row in
                    FloatBlob.sha256(row["vectors"]) == row["content_sha256"] as String ? nil
                        : "label_embedding \(row["id"] as Int64) (class \(row["class_id"] as Int64)): content does not match its sha256"
                }
            }
            try check("context vector hashes") {
                try db.rows("SELECT id, vectors, content_sha256 FROM context_vectors").compactMap { row in
                    FloatBlob.sha256(row["vectors"]) == row["content_sha256"] as String ? nil
                        : "context_vectors \(row["id"] as Int64): content does not match its sha256"
                }
            }
            try check("label embedding widths") {
                guard let model else { return [] }
                return try db.scalars(Int64.self, "SELECT id FROM label_embedding WHERE width <> ?", [model.tokenEmbeddingWidth])
                    .map { "label_embedding \($0) is not \(model.tokenEmbeddingWidth) wide" }
            }
            try check("label embedding and context vector blobs") {
                var problems: [String] = []
                for table in ["label_embedding", "context_vectors"] {
                    problems += try db.rows("""
                        SELECT id, token_count, width, \(db.dialect.byteLength("vectors")) AS bytes FROM \(table)
                        WHERE token_count < 1 OR width < 1 OR \(db.dialect.byteLength("vectors")) IS DISTINCT FROM 4 * token_count * width
                        """).map { row in
                        "\(table) \(row["id"] as Int64): \(row["bytes"] as Int) bytes of vectors for \(row["token_count"] as Int) x \(row["width"] as Int) floats"
                    }
                }
                return problems
            }
            try check("features") {
                // Samples' image features and the cached text, image and prompted image features: each
                // the model's feature width, finite.
                guard let model else { return [] }
                var problems: [String] = []
                let tables = [("sample", "'sample ' || id"),
                              ("text_feature", "'text_feature (label_embedding_id ' || label_embedding_id || ', context_key ' || context_key || ')'"),
                              ("image_feature", "'image_feature (content_sha256 ' || substr(content_sha256, 1, 12) || '..., view ' || view || ', seed ' || seed || ')'"),
                              ("prompted_image_feature", "'prompted_image_feature (content_sha256 ' || substr(content_sha256, 1, 12) || '..., prompt_sha256 ' || substr(prompt_sha256, 1, 12) || '...)'")]
                for (table, name) in tables {
                    for row in try db.rows("SELECT \(name) AS name, feature FROM \(table)") {
                        let data: Data = row["feature"], name: String = row["name"]
                        if data.count != 4 * model.featureWidth {
                            problems.append("\(name): feature is \(data.count) bytes, not \(4 * model.featureWidth) (\(model.featureWidth) floats)")
                        } else if !FloatBlob.decode(data).allSatisfy(\.isFinite) {
                            problems.append("\(name): feature holds NaN or Inf")
                        }
                    }
                }
                problems += try db.scalars(Int64.self, """
                    SELECT t.label_embedding_id FROM text_feature t LEFT JOIN label_embedding le ON le.id = t.label_embedding_id
                    WHERE le.id IS NULL
                    """).map { "text_feature of label_embedding \($0): no such label embedding" }
                return problems
            }
            try check("prompt tensors") {
                // Each tensor's bytes fill its shape and match their sha256; only MaPLe snapshots
                // hold tensors, at positions 0, 1, ...
                var problems: [String] = []
                for row in try db.rows("""
                    SELECT t.snapshot_id, t.name, t.shape_json, t.data, t.content_sha256, s.method
                    FROM prompt_tensor t LEFT JOIN snapshot s ON s.id = t.snapshot_id ORDER BY t.snapshot_id, t.position
                    """) {
                    let snapshot: Int64 = row["snapshot_id"], name = "prompt_tensor (snapshot \(snapshot), name '\(row["name"] as String)')"
                    let data: Data = row["data"], shapeJSON: String = row["shape_json"]
                    if let shape = try? JSONDecoder().decode([Int].self, from: Data(shapeJSON.utf8)),
                       let count = PromptTensor.elementCount(of: shape) {
                        if data.count != 4 * count {
                            problems.append("\(name): \(data.count) bytes of data for shape \(shape) (\(count) floats)")
                        }
                    } else {
                        problems.append("\(name): shape \(shapeJSON) is not a list of sizes of at least 1")
                    }
                    if FloatBlob.sha256(data) != row["content_sha256"] as String {
                        problems.append("\(name): content does not match its sha256")
                    }
                    if let method: String = row["method"], method != Method.maple.rawValue, method != Method.mapleLAMM.rawValue {
                        problems.append("\(name): snapshot \(snapshot) is a \(method) snapshot, which holds no prompt tensors")
                    }
                }
                problems += try db.scalars(Int64.self, """
                    SELECT snapshot_id FROM prompt_tensor GROUP BY snapshot_id HAVING min(position) <> 0 OR max(position) <> count(*) - 1
                    """).map { "snapshot \($0): its prompt tensors' positions are not 0, 1, ..." }
                return problems
            }
            try check("snapshot stages") {
                // The stage a snapshot recorded training on is the stage it belongs to.
                var problems: [String] = []
                let rows = try db.rows("""
                    SELECT snapshot.id, snapshot.stage_id, snapshot.config_json, stage.name, stage.source_file
                    FROM snapshot JOIN stage ON stage.id = snapshot.stage_id ORDER BY snapshot.id
                    """)
                var hashes: [Int64: String] = [:]
                for row in rows {
                    let id: Int64 = row["id"], stageId: Int64 = row["stage_id"], stage: String = row["name"]
                    let config = (try? JSONSerialization.jsonObject(with: Data((row["config_json"] as String).utf8))) as? [String: Any] ?? [:]
                    if let recorded = config["stage_sha256"] as? String {
                        if hashes[stageId] == nil { hashes[stageId] = try Self.stageContentSHA256(db, stageId) }
                        if recorded != hashes[stageId] {
                            problems.append("snapshot \(id) was trained on other samples than stage \(stage) holds (content sha256 \(recorded.prefix(12))... vs \(hashes[stageId]!.prefix(12))...)")
                        }
                    } else if let file = config["stage_file"] as? String,
                              URL(fileURLWithPath: file).lastPathComponent != URL(fileURLWithPath: row["source_file"] as String).lastPathComponent {
                        problems.append("snapshot \(id) was trained on \(file), but stage \(stage) was registered from \(row["source_file"] as String)")
                    }
                }
                return problems
            }
            try check("snapshot coverage") {
                // Each snapshot resolves, through its lineage, exactly the classes of its dataset's
                // stages up to its own.
                let missing = try db.rows("""
                    WITH RECURSIVE chain(snapshot_id, ancestor_id) AS (
                        SELECT id, id FROM snapshot
                        UNION ALL
                        SELECT chain.snapshot_id, s.parent_id FROM chain JOIN snapshot s ON s.id = chain.ancestor_id
                        WHERE s.parent_id IS NOT NULL AND s.parent_id < s.id
                    )
                    SELECT s.id, c.name FROM snapshot s
                    JOIN stage ss ON ss.id = s.stage_id
                    JOIN class c ON c.dataset_id = s.dataset_id
                    JOIN stage cs ON cs.id = c.stage_id AND cs.position <= ss.position
                    WHERE NOT EXISTS (SELECT 1 FROM chain JOIN snapshot_label sl ON sl.snapshot_id = chain.ancestor_id
                                      WHERE chain.snapshot_id = s.id AND sl.class_id = c.id)
                    ORDER BY s.id, cs.position, c.label_index
                    """).map { "snapshot \($0[0] as Int64) has no label row for class '\($0[1] as String)'" }
                let extra = try db.rows("""
                    SELECT s.id, c.name FROM snapshot_label sl
                    JOIN snapshot s ON s.id = sl.snapshot_id
                    JOIN stage ss ON ss.id = s.stage_id
                    JOIN class c ON c.id = sl.class_id
                    JOIN stage cs ON cs.id = c.stage_id
                    WHERE cs.position > ss.position OR c.dataset_id <> s.dataset_id
                    """).map { "snapshot \($0[0] as Int64) maps class '\($0[1] as String)', which its stage does not cover" }
                let mismatched = try db.rows("""
                    SELECT sl.snapshot_id, sl.label_embedding_id FROM snapshot_label sl
                    JOIN label_embedding le ON le.id = sl.label_embedding_id WHERE le.class_id <> sl.class_id
                    """).map { "snapshot \($0[0] as Int64) maps a class to label_embedding \($0[1] as Int64) of another class" }
                return missing + extra + mismatched
            }
            try check("snapshot lineage") {
                try db.rows("""
                    SELECT s.id FROM snapshot s JOIN snapshot p ON p.id = s.parent_id
                    JOIN stage ss ON ss.id = s.stage_id JOIN stage ps ON ps.id = p.stage_id
                    WHERE p.dataset_id <> s.dataset_id OR p.method <> s.method OR p.run IS DISTINCT FROM s.run OR p.id >= s.id OR ps.position > ss.position
                    """).map { "snapshot \($0[0] as Int64): its parent is not an earlier snapshot of the same dataset, method and run" }
            }
            return VerifyReport(checks: checks)
        }
    }
}
