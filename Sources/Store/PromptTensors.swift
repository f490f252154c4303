import Crypto
import Formats
import Foundation

// MaPLe's prompt parameters besides the shared context vectors, and the image features computed
// through them (Migrations/0005_prompt_tensor.sql).

extension PromptTensor {
    /// The key of a set of prompt parameters (`prompted_image_feature.prompt_sha256`): lower-case
    /// hex SHA-256 over the context vectors, then each tensor's name, shape and float32
    /// little-endian bytes, in order. Every field is preceded by its length, so two different
    /// sets never hash the same bytes; no context (nil) differs from an empty one.
    /// `LabelStore.promptSHA256(snapshot:)` gives a stored snapshot's; a trainer calls this to
    /// key the features it computes before the snapshot is written.
    public static func sha256(context: [Float]?, tensors: [PromptTensor]) -> String {
        var hasher = SHA256()
        func add(_ value: UInt64) {
            withUnsafeBytes(of: value.littleEndian) { hasher.update(bufferPointer: $0) }
        }
        func add(_ data: Data) {
            add(UInt64(data.count))
            hasher.update(data: data)
        }
        hasher.update(data: Data("lamm-store prompt parameters 1".utf8))
        if let context {
            add(1)
            add(FloatBlob.encode(context))
        } else {
            add(0)
        }
        add(UInt64(tensors.count))
        for tensor in tensors {
            add(Data(tensor.name.utf8))
            add(UInt64(tensor.shape.count))
            for size in tensor.shape { add(UInt64(bitPattern: Int64(size))) }
            add(FloatBlob.encode(tensor.values))
        }
        return FloatBlob.hex(hasher.finalize())
    }

    /// The shape as stored in `prompt_tensor.shape_json`.
    var shapeJSON: String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

    /// The L2 norm of the values.
    public var l2Norm: Double { values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
}

/// A prompt tensor as `show` lists it: its values summarised by their L2 norm.
public struct PromptTensorInfo: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var l2Norm: Double
    public var contentSha256: String
}

/// How one prompt tensor differs between two snapshots.
public struct PromptTensorChange: Codable, Sendable, Equatable {
    public var name: String
    /// Nil when the snapshot does not hold the tensor.
    public var shapeA: [Int]?
    public var shapeB: [Int]?
    /// The L2 norm of B - A, when both snapshots hold the tensor with the same shape.
    public var l2Change: Double?
}

extension LabelStore {
    /// A snapshot's prompt tensors in the order they were written; [] for a snapshot of any
    /// method but maple and maple+lamm. A blob that does not match its shape is
    /// `StoreError.damagedBlob`.
    public func promptTensors(snapshot id: Int64) throws -> [PromptTensor] {
        try read { db in
            _ = try Self.requireSnapshot(db, id)
            return try storedPromptTensors(db, snapshot: id).map(\.tensor)
        }
    }

    /// SHA-256 hex over the snapshot's context vectors and prompt tensors (names, shapes, bytes,
    /// in order): the key of its prompted image features (see `PromptTensor.sha256`).
    public func promptSHA256(snapshot id: Int64) throws -> String {
        try read { db in
            let record = try Self.requireSnapshot(db, id)
            let context = try record.contextVectorsId.flatMap { contextId in
                try db.fetchOne(ContextVectorsRecord.self, id: contextId).map {
                    try tokenVectors($0.vectors, tokens: $0.tokenCount, width: $0.width, table: "context_vectors", row: contextId)
                }
            }
            return PromptTensor.sha256(context: context?.values, tensors: try storedPromptTensors(db, snapshot: id).map(\.tensor))
        }
    }

    /// A snapshot's prompt tensors with their stored hashes, each blob checked against its shape.
    func storedPromptTensors(_ db: any StoreDatabase, snapshot id: Int64) throws -> [(tensor: PromptTensor, contentSha256: String)] {
        try db.fetchAll(PromptTensorRecord.self, "SELECT * FROM prompt_tensor WHERE snapshot_id = ? ORDER BY position", [id]).map { record in
                let row = "(snapshot \(id), name '\(record.name)')"
                guard let shape = try? JSONDecoder().decode([Int].self, from: Data(record.shapeJson.utf8)),
                      let count = PromptTensor.elementCount(of: shape) else {
                    throw StoreError.damagedBlob(path: path, table: "prompt_tensor", row: row, column: "data",
                                                 bytes: record.data.count, expected: 0)
                }
                let values = try FloatBlob.decode(record.data, count: count, path: path, table: "prompt_tensor", row: row, column: "data")
                return (PromptTensor(name: record.name, shape: shape, values: values), record.contentSha256)
            }
    }

    /// Refuses prompt tensors a snapshot cannot hold, before anything is written: any on a
    /// method other than maple and maple+lamm, an empty or repeated name, or values that do not
    /// fill the shape.
    static func checkPromptTensors(_ snapshot: NewSnapshot) throws {
        guard !snapshot.promptTensors.isEmpty else { return }
        guard snapshot.method.promptsBothTowers else {
            throw StoreError.promptTensorsOfMethod(method: snapshot.method)
        }
        var names = Set<String>()
        for tensor in snapshot.promptTensors {
            guard !tensor.name.isEmpty, names.insert(tensor.name).inserted else {
                throw StoreError.promptTensorName(name: tensor.name)
            }
            guard PromptTensor.elementCount(of: tensor.shape) == tensor.values.count else {
                throw StoreError.promptTensorSize(name: tensor.name, shape: tensor.shape, values: tensor.values.count)
            }
        }
    }

    /// Writes a new snapshot's prompt tensors; given none, a MaPLe snapshot holds its parent's.
    static func insertPromptTensors(_ db: any StoreDatabase, snapshot: NewSnapshot, snapshotId: Int64, parentId: Int64?) throws {
        if snapshot.promptTensors.isEmpty {
            // Only MaPLe's lineages hold prompt tensors (`verify` checks it): nothing to inherit.
            guard let parentId, snapshot.method.promptsBothTowers else { return }
            try db.execute("""
                INSERT INTO prompt_tensor (snapshot_id, name, position, shape_json, data, content_sha256)
                SELECT ?, name, position, shape_json, data, content_sha256 FROM prompt_tensor WHERE snapshot_id = ? ORDER BY position
                """, [snapshotId, parentId])
            return
        }
        for (position, tensor) in snapshot.promptTensors.enumerated() {
            let data = FloatBlob.encode(tensor.values)
            try db.insert(PromptTensorRecord(snapshotId: snapshotId, name: tensor.name, position: position,
                                             shapeJson: tensor.shapeJSON, data: data, contentSha256: FloatBlob.sha256(data)))
        }
    }

    // MARK: Prompted image features

    /// Cached features of image contents computed through the prompt parameters keyed
    /// `promptSHA256`, by content SHA-256.
    public func cachedPromptedImageFeatures(contentSHA256s: [String], promptSHA256: String) throws -> [String: [Float]] {
        guard !contentSHA256s.isEmpty else { return [:] }
        return try read { db in
            let width = try Self.model(db, path: path).featureWidth
            var result: [String: [Float]] = [:]
            let keys = Array(Set(contentSHA256s)).sorted()
            for chunk in stride(from: 0, to: keys.count, by: 500).map({ Array(keys[$0..<min($0 + 500, keys.count)]) }) {
                let records = try db.fetchAll(PromptedImageFeatureRecord.self, """
                    SELECT * FROM prompted_image_feature WHERE prompt_sha256 = ? AND content_sha256 IN (\(placeholders(chunk.count)))
                    """, [promptSHA256] + chunk)
                for record in records {
                    result[record.contentSha256] = try FloatBlob.decode(
                        record.feature, count: width, path: path, table: "prompted_image_feature",
                        row: "(content_sha256 \(record.contentSha256.prefix(12))..., prompt_sha256 \(promptSHA256.prefix(12))...)",
                        column: "feature")
                }
            }
            return result
        }
    }

    /// Caches image features computed through the prompt parameters keyed `promptSHA256`, by
    /// content SHA-256, when the store can be written without waiting (see `writeIfFree`); a
    /// reader leaves them to be computed again next time. An entry already cached is kept.
    public func cachePromptedImageFeatures(_ features: [String: [Float]], promptSHA256: String) throws {
        guard !features.isEmpty else { return }
        _ = try writeIfFree { db in
            for (content, feature) in features.sorted(by: { $0.key < $1.key }) {
                try db.execute("""
                    INSERT INTO prompted_image_feature (content_sha256, prompt_sha256, feature) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                    """, [content, promptSHA256, FloatBlob.encode(feature)])
            }
        }
    }
}
