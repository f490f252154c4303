import Crypto
import Foundation

/// A new stage's classes and samples, checked, before anything is written to the store.
public struct StageData: Sendable {
    public var sourceFile: String
    /// Class names in label-space order (a stage file's: the order of first appearance).
    public var classes: [String]
    public var samples: [NewSample]
    /// Line of each class's first row in the source file, for messages.
    public var firstLine: [String: Int]

    public init(sourceFile: String, classes: [String], samples: [NewSample], firstLine: [String: Int]) {
        self.sourceFile = sourceFile
        self.classes = classes
        self.samples = samples
        self.firstLine = firstLine
    }

    /// Whether the samples still need their features encoded from their images.
    public var needsImageFeatures: Bool { samples.contains { $0.feature.isEmpty } }

    /// SHA-256 of what the stage holds: its classes in order and its samples (class, split,
    /// feature) in order. A snapshot records it, so `verify` can tell the stage it trained on.
    public var contentSHA256: String {
        var hasher = StageHasher()
        for name in classes { hasher.add(className: name) }
        for sample in samples { hasher.add(classIndex: sample.classIndex, split: sample.split, feature: FloatBlob.encode(sample.feature)) }
        return hasher.finalize()
    }
}

/// The stage content hash, fed the same way from a stage file and from the store's rows.
struct StageHasher {
    private var hasher = SHA256()

    mutating func add(className: String) {
        hasher.update(data: Data(className.utf8) + [0])
    }

    mutating func add(classIndex: Int, split: Split, feature: Data) {
        withUnsafeBytes(of: Int64(classIndex).littleEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Data(split.rawValue.utf8) + [0])
        withUnsafeBytes(of: Int64(feature.count).littleEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: feature)
    }

    func finalize() -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

public struct NewSample: Sendable {
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
