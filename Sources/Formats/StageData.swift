import Foundation
import Methods

/// A stage's classes and samples: read from a stage file (StageFile) or a Dassl split, checked
/// before anything is written to the store, and read back from it.
public struct StageData: Sendable {
    public var sourceFile: String
    /// Class names in label-space order (a stage file's: the order of first appearance).
    public var classes: [String]
    public var samples: [Sample]
    /// Line of each class's first row in the source file, for messages.
    public var firstLine: [String: Int]

    public init(sourceFile: String, classes: [String], samples: [Sample], firstLine: [String: Int]) {
        self.sourceFile = sourceFile
        self.classes = classes
        self.samples = samples
        self.firstLine = firstLine
    }

    /// Whether the samples still need their features encoded from their images.
    public var needsImageFeatures: Bool { samples.contains { $0.feature.isEmpty } }
}

/// One sample of a stage: its class, split, and image feature (empty until its image is encoded),
/// with where the feature came from.
public struct Sample: Sendable {
    public var classIndex: Int
    public var split: Split
    public var feature: [Float]
    public var imagePath: String?
    public var featureFile: String?
    /// 0-based row of `featureFile`.
    public var featureRow: Int?
    /// SHA-256 of the image file, when the feature is encoded from it.
    public var imageSha256: String?
    /// 0: CLIP's centre crop; k >= 1: the k-th augmented view.
    public var view: Int = 0

    public init(classIndex: Int, split: Split, feature: [Float], imagePath: String? = nil, featureFile: String? = nil,
                featureRow: Int? = nil, imageSha256: String? = nil, view: Int = 0) {
        self.classIndex = classIndex
        self.split = split
        self.feature = feature
        self.imagePath = imagePath
        self.featureFile = featureFile
        self.featureRow = featureRow
        self.imageSha256 = imageSha256
        self.view = view
    }
}
