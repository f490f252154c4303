import Evaluation
import Formats
import Foundation
import Images
import Store

/// An input's most probable classes under a snapshot, most probable first.
public struct Classification: Codable, Sendable, Equatable {
    public struct Candidate: Codable, Sendable, Equatable {
        public var className: String
        public var stage: String
        /// softmax over the label space of logitScale * cos(I_x, psi(z_i)).
        public var probability: Float
        public var logit: Float

        enum CodingKeys: String, CodingKey {
            case className = "class", stage, probability, logit
        }
    }

    /// The image file, or the feature file and row.
    public var input: String
    public var top: [Candidate]
}

extension Classifier {
    /// Classifies image features [count, D] (finite, any norm but zero: each row is L2-normalised) among a
    /// snapshot's classes: every stage up to its own, or only `stages` when some are given. `names`
    /// label the results (default: the row numbers). `top` is clamped to the number of classes.
    public func classify(snapshot id: Int64, imageFeatures: [Float], count: Int, names: [String]? = nil,
                         stages: [String]? = nil, top: Int = 5) throws -> [Classification] {
        precondition(imageFeatures.count == count * dimension, "classify: \(imageFeatures.count) values is not \(count) x \(dimension)")
        let rows = try classificationRows(snapshot: id, stages: stages)
        try requireFeaturesSuffice(snapshot: id)
        try FloatMatrix(rows: count, columns: dimension, values: imageFeatures).checkImageFeatures(file: "image features", width: dimension)
        return try rank(imageFeatures, names: names ?? (0..<count).map { "row \($0)" }, snapshot: id, rows: rows, top: top)
    }

    /// Classifies the image features of a `.npy` [rows, D], one result per row.
    public func classify(snapshot id: Int64, featureFile: URL, displayName: String, stages: [String]? = nil,
                         top: Int = 5) throws -> [Classification] {
        let rows = try classificationRows(snapshot: id, stages: stages)
        try requireFeaturesSuffice(snapshot: id)
        let matrix = try NPY.read(featureFile, displayName: displayName)
        guard matrix.rows > 0 else { throw ContinualError.noFeatureRows(file: displayName) }
        try matrix.checkImageFeatures(file: displayName, width: dimension)
        return try rank(matrix.values, names: (0..<matrix.rows).map { "\(displayName) row \($0)" }, snapshot: id, rows: rows, top: top)
    }

    /// Classifies JPEG or PNG files by CLIP's centre crop, as their test rows are encoded.
    /// Features of the same content already in the store are reused; the others are not stored.
    public func classify(snapshot id: Int64, imageFiles: [String], stages: [String]? = nil, top: Int = 5) throws -> [Classification] {
        let rows = try classificationRows(snapshot: id, stages: stages)
        if let prompts = try features.maplePrompts(ofSnapshot: id) {
            // MaPLe's prompts act inside the image tower: its images go through the prompted tower.
            let features = try features.promptedImageFeatures(count: imageFiles.count, prompts: prompts) {
                try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: imageFiles[$0]))
            }
            return try rank(features, names: imageFiles, snapshot: id, rows: rows, top: top)
        }
        let samples = imageFiles.map { Sample(classIndex: 0, split: .test, feature: [], imagePath: $0) }
        let encoded = try features.encodeImages(StageData(sourceFile: "", classes: [], samples: samples, firstLine: [:]), options: ImageEncodingOptions())
        return try rank(encoded.data.samples.flatMap(\.feature), names: imageFiles, snapshot: id, rows: rows, top: top)
    }

    /// Stored CLIP image features cannot show a MaPLe snapshot an image: its prompts act inside
    /// the image tower.
    func requireFeaturesSuffice(snapshot id: Int64) throws {
        let method = try store.snapshotRecord(id).method
        if method.promptsBothTowers { throw ContinualError.featuresCannotShowMaPLe(snapshot: id, method: method.rawValue) }
    }

    /// The snapshot's classes in stage and label order, restricted to `stages`. Checked before
    /// the inputs are read, and those before any text feature is computed and cached, so that
    /// a bad input leaves the store as it was.
    func classificationRows(snapshot id: Int64, stages: [String]?) throws -> [SnapshotClassRow] {
        var rows = try store.labelRows(snapshot: id)
        if let stages, !stages.isEmpty {
            var valid: [String] = []
            for row in rows where !valid.contains(row.stage.name) { valid.append(row.stage.name) }
            let unknown = stages.filter { !valid.contains($0) }
            guard unknown.isEmpty else { throw ContinualError.unknownStages(snapshot: id, names: unknown, valid: valid) }
            rows = rows.filter { stages.contains($0.stage.name) }
        }
        return rows
    }

    /// logits = logitScale * cos, as CLIP scores an image against its prompts: one sgemm for all
    /// inputs against the rows' text features (cached in the store, the missing ones computed).
    func rank(_ imageFeatures: [Float], names: [String], snapshot id: Int64, rows: [SnapshotClassRow], top: Int) throws -> [Classification] {
        precondition(top > 0, "classify: top must be at least 1")
        guard !names.isEmpty else { return [] }
        let text = try features.snapshotTextFeatures(rows, snapshot: id)
        let scale = checkpoint.logitScale
        let logits = cosines(imageFeatures: normalized(imageFeatures, dimension: dimension), textFeatures: text,
                             dimension: dimension).map { scale * $0 }
        let ranked = topClasses(logits: logits, classes: rows.count, k: top)
        return zip(names, ranked).map { name, classes in
            Classification(input: name, top: classes.map {
                let row = rows[$0.index]
                return Classification.Candidate(className: row.classRecord.name, stage: row.stage.name, probability: $0.probability, logit: $0.logit)
            })
        }
    }
}
