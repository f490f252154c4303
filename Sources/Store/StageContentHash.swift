import Crypto
import Formats
import Foundation
import Methods

extension StageData {
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
        FloatBlob.hex(hasher.finalize())
    }
}
