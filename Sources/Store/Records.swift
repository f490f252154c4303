import Foundation
import Methods

// One record type per table (Migrations/). Swift names are camelCase, columns snake_case
// (`StoreRecord`, Database/RecordCoding.swift); each works on both backends.

/// The training method of a snapshot, a sample's split and an evaluation's protocol are stored
/// by their raw values.
extension Method: StoreValueConvertible {}
extension Split: StoreValueConvertible {}
extension Protocol: StoreValueConvertible {}

/// The CLIP checkpoint a store is bound to (always id 1).
public struct ModelRecord: StoreRecord, Equatable {
    public static let databaseTableName = "model"
    public var id: Int64 = 1
    public var name: String
    public var directory: String
    public var weightsFile: String
    public var weightsSha256: String
    public var configJson: String
    public var tokenEmbeddingWidth: Int
    public var featureWidth: Int
    public var registeredAt: Date

    public init(name: String, directory: String, weightsFile: String, weightsSha256: String,
                configJson: String, tokenEmbeddingWidth: Int, featureWidth: Int, registeredAt: Date = Date()) {
        self.name = name
        self.directory = directory
        self.weightsFile = weightsFile
        self.weightsSha256 = weightsSha256
        self.configJson = configJson
        self.tokenEmbeddingWidth = tokenEmbeddingWidth
        self.featureWidth = featureWidth
        self.registeredAt = registeredAt
    }
}

public struct DatasetRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "dataset"
    public var id: Int64?
    public var name: String
    public var createdAt: Date


}

public struct StageRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "stage"
    public var id: Int64?
    public var datasetId: Int64
    public var name: String
    /// 0 for the first stage (Set1), 1 for the next, ...
    public var position: Int
    public var sourceFile: String?
    public var createdAt: Date


}

public struct ClassRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "class"
    public var id: Int64?
    public var datasetId: Int64
    public var stageId: Int64
    public var name: String
    /// Place in the label space of the stage that introduced the class.
    public var labelIndex: Int


}

public struct SampleRecord: IdentifiedStoreRecord {
    public static let databaseTableName = "sample"
    public var id: Int64?
    public var classId: Int64
    public var split: Split
    /// Image feature, float32 little-endian (see `FloatBlob`).
    public var feature: Data
    public var imagePath: String?
    public var featureFile: String?
    public var featureRow: Int?
    /// SHA-256 of the image file the feature was encoded from.
    public var imageSha256: String?
    /// 0: CLIP's centre crop; k >= 1: the k-th augmented view.
    public var view: Int = 0

}

/// Trainable label-token vectors `<M_i>` of one class (LAMM.md notation): token_count x width.
public struct LabelEmbeddingRecord: IdentifiedStoreRecord {
    public static let databaseTableName = "label_embedding"
    public var id: Int64?
    public var classId: Int64
    public var tokenCount: Int
    public var width: Int
    public var vectors: Data
    public var contentSha256: String
    public var createdAt: Date

}

/// Shared template vectors (CoOp's context), token_count x width.
public struct ContextVectorsRecord: IdentifiedStoreRecord {
    public static let databaseTableName = "context_vectors"
    public var id: Int64?
    public var tokenCount: Int
    public var width: Int
    public var vectors: Data
    public var contentSha256: String
    public var createdAt: Date

}

public struct SnapshotRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "snapshot"
    public var id: Int64?
    public var datasetId: Int64
    public var method: Method
    public var stageId: Int64
    public var parentId: Int64?
    public var contextVectorsId: Int64?
    public var createdAt: Date
    /// The full training configuration (hyper-parameters, seed, loss weights).
    public var configJson: String
    /// Summary of the loss curve.
    public var lossCurveJson: String
    /// The sweep run the snapshot belongs to (RunTag's JSON); nil for the add-classes lineage.
    public var run: String?


}

public struct SnapshotLabelRecord: StoreRecord, Equatable {
    public static let databaseTableName = "snapshot_label"
    public var snapshotId: Int64
    public var classId: Int64
    public var labelEmbeddingId: Int64
}

public struct BaselineRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "baseline"
    public var id: Int64?
    public var stageId: Int64
    public var split: Split
    public var `protocol`: Protocol
    public var correct: Int
    public var total: Int
    public var accuracy: Double
    public var computedAt: Date


    public init(stageId: Int64, split: Split, protocol: Protocol, correct: Int, total: Int, accuracy: Double, computedAt: Date) {
        self.stageId = stageId
        self.split = split
        self.protocol = `protocol`
        self.correct = correct
        self.total = total
        self.accuracy = accuracy
        self.computedAt = computedAt
    }

}

public struct EvaluationRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "evaluation"
    public var id: Int64?
    public var snapshotId: Int64
    public var stageId: Int64
    public var split: Split
    public var `protocol`: Protocol
    public var correct: Int
    public var total: Int
    public var accuracy: Double
    public var seconds: Double
    public var evaluatedAt: Date


    public init(snapshotId: Int64, stageId: Int64, split: Split, protocol: Protocol, correct: Int, total: Int,
                accuracy: Double, seconds: Double, evaluatedAt: Date) {
        self.snapshotId = snapshotId
        self.stageId = stageId
        self.split = split
        self.protocol = `protocol`
        self.correct = correct
        self.total = total
        self.accuracy = accuracy
        self.seconds = seconds
        self.evaluatedAt = evaluatedAt
    }

}

public struct PublishedResultRecord: StoreRecord, Equatable {
    public static let databaseTableName = "published_result"
    public var id: Int64?
    public var source: String
    public var tableNumber: Int
    public var method: String
    public var setting: String
    public var columnName: String
    public var cell: String
    public var value: Double

}

/// A cached psi(z) of one label row's prompt, with one set of context vectors (context key 0
/// for none), L2-normalised (Migrations/0003_text_feature.sql).
public struct TextFeatureRecord: StoreRecord {
    public static let databaseTableName = "text_feature"
    public var labelEmbeddingId: Int64
    public var contextKey: Int64
    /// float32 little-endian (see `FloatBlob`).
    public var feature: Data

}

/// The feature of an image file's content in one view (Migrations/0004_image_feature.sql).
public struct ImageFeatureRecord: StoreRecord {
    public static let databaseTableName = "image_feature"
    public var contentSha256: String
    public var view: Int
    public var seed: Int64
    /// float32 little-endian (see `FloatBlob`).
    public var feature: Data

}

/// One named tensor of a MaPLe snapshot's prompt parameters (Migrations/0005_prompt_tensor.sql):
/// float32 little-endian data of the shape in `shape_json`, at `position` in the trainer's order.
public struct PromptTensorRecord: StoreRecord, Equatable {
    public static let databaseTableName = "prompt_tensor"
    public var snapshotId: Int64
    public var name: String
    public var position: Int
    /// A JSON array of positive sizes, row-major.
    public var shapeJson: String
    public var data: Data
    public var contentSha256: String

}

/// An image file's feature computed through one set of prompt parameters
/// (Migrations/0005_prompt_tensor.sql).
public struct PromptedImageFeatureRecord: StoreRecord {
    public static let databaseTableName = "prompted_image_feature"
    public var contentSha256: String
    public var promptSha256: String
    /// float32 little-endian (see `FloatBlob`).
    public var feature: Data

}

/// A snapshot evaluated on a stage of another dataset, its classes matched by name
/// (Migrations/0007_cross_evaluation.sql).
public struct CrossEvaluationRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "cross_evaluation"
    public var id: Int64?
    public var snapshotId: Int64
    public var stageId: Int64
    public var split: Split
    public var matchedClasses: Int
    /// A JSON array of the stage's class names the snapshot has no class for.
    public var unmatchedClassesJson: String
    public var correct: Int
    public var total: Int
    public var accuracy: Double
    /// Zero-shot CLIP on the same rows and label space.
    public var baseline: Double
    public var evaluatedAt: Date

    public init(snapshotId: Int64, stageId: Int64, split: Split, matchedClasses: Int, unmatchedClassesJson: String, correct: Int,
                total: Int, accuracy: Double, baseline: Double, evaluatedAt: Date) {
        (self.snapshotId, self.stageId, self.split, self.matchedClasses) = (snapshotId, stageId, split, matchedClasses)
        (self.unmatchedClassesJson, self.correct, self.total) = (unmatchedClassesJson, correct, total)
        (self.accuracy, self.baseline, self.evaluatedAt) = (accuracy, baseline, evaluatedAt)
    }


}

/// A snapshot scored on the classes it trained (base) and on a stage of classes it has not
/// trained (new), each beside zero-shot CLIP (Migrations/0012_base_to_new_evaluation.sql).
public struct BaseToNewEvaluationRecord: IdentifiedStoreRecord, Equatable {
    public static let databaseTableName = "base_to_new_evaluation"
    public var id: Int64?
    public var snapshotId: Int64
    /// The new stage.
    public var stageId: Int64
    public var split: Split
    public var baseCorrect: Int
    public var baseTotal: Int
    public var baseAccuracy: Double
    public var baseBaseline: Double
    public var newCorrect: Int
    public var newTotal: Int
    public var newAccuracy: Double
    public var newBaseline: Double
    public var evaluatedAt: Date

    public init(snapshotId: Int64, stageId: Int64, split: Split, base: (correct: Int, total: Int, accuracy: Double, baseline: Double),
                new: (correct: Int, total: Int, accuracy: Double, baseline: Double), evaluatedAt: Date) {
        (self.snapshotId, self.stageId, self.split, self.evaluatedAt) = (snapshotId, stageId, split, evaluatedAt)
        (baseCorrect, baseTotal, baseAccuracy, baseBaseline) = base
        (newCorrect, newTotal, newAccuracy, newBaseline) = new
    }
}

/// A stored base-to-new evaluation with the names of the new stage and its dataset.
public struct StoredBaseToNewEvaluation: Sendable, Equatable {
    public var record: BaseToNewEvaluationRecord
    public var onDataset: String
    public var onStage: String
}

/// A stored cross-dataset evaluation with the names of the dataset and stage it was on.
public struct StoredCrossEvaluation: Sendable, Equatable {
    public var record: CrossEvaluationRecord
    public var onDataset: String
    public var onStage: String
}

/// The first way a stage's data differs from a registered stage (`LabelStore.stageDifference`).
public enum StageDifference: Equatable, Sendable {
    /// Other classes, or the same in another order.
    case classes(registered: [String])
    case sampleCount(registered: Int)
    /// The sample at `row` (0-based, in file order) has another class or split.
    case sampleLabel(row: Int)
    /// The sample at `row` has another image feature.
    case feature(row: Int)
}
