import Foundation
import Methods

/// The image a sample was encoded from: its path as registered and the SHA-256 of its content.
public struct SampleImage: Sendable, Equatable {
    public var path: String
    public var sha256: String
}

extension LabelStore {
    /// The image of each sample of a stage and split, in the order of `samples(stage:split:)`;
    /// nil for a sample registered from a feature file.
    public func sampleImages(stage stageId: Int64, split: Split) throws -> [SampleImage?] {
        try read { db in
            try db.rows("""
                SELECT sample.image_path, sample.image_sha256 FROM sample JOIN class ON class.id = sample.class_id
                WHERE class.stage_id = ? AND sample.split = ? ORDER BY sample.id
                """, [stageId, split]).map { row in
                guard let path: String = row[0], let sha: String = row[1] else { return nil }
                return SampleImage(path: path, sha256: sha)
            }
        }
    }

    /// Every image file the store's samples were encoded from (evaluating MaPLe snapshots reads them again).
    public func imagePaths() throws -> [String] {
        try read { db in try db.scalars(String.self, "SELECT DISTINCT image_path FROM sample WHERE image_path IS NOT NULL ORDER BY image_path") }
    }
}
