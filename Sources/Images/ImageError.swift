import Formats
import Foundation

/// Why an image file could not be decoded. One type for every case, so a caller can skip bad
/// images (and list them) while still telling the reasons apart.
public struct ImageError: Error, LocalizedError, CustomStringConvertible, Equatable {
    public enum Reason: Sendable, Equatable {
        /// No file at the path (or it cannot be read).
        case cannotRead(String)
        /// The path names something that is no regular file: a folder, a FIFO, a device.
        case notAFile(FileKind)
        /// The file has no bytes.
        case empty
        /// The first bytes are neither JPEG's nor PNG's signature.
        case unknownFormat(firstBytes: [UInt8])
        /// The header's size is above the decoder's cap; nothing was allocated.
        case tooLarge(width: Int, height: Int, maxPixels: Int)
        /// The data ends before the image does.
        case truncated
        /// The stream breaks the format (the library's or the structure check's message).
        case corrupt(String)
        /// Valid, but a variant this decoder does not read (e.g. 12-bit or lossless JPEG).
        case unsupported(String)
    }

    public let file: String
    public let reason: Reason

    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case let .cannotRead(why):
            return "cannot read image \(file): \(why); check the path in the CSV and the file's permissions"
        case let .notAFile(kind):
            return "image \(file) is \(kind), not a regular file; nothing was read from it. Check the path in the CSV, or name a JPEG or PNG file"
        case .empty:
            return "image \(file) is empty (0 bytes); replace the file or remove its row"
        case let .unknownFormat(firstBytes):
            let hex = firstBytes.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "image \(file) is neither JPEG nor PNG (first bytes: \(hex)); convert it to JPEG or PNG or remove its row"
        case let .tooLarge(width, height, maxPixels):
            return "image \(file) claims \(width)x\(height) pixels, above the limit of \(maxPixels); downscale it first (CLIP sees 224x224 anyway)"
        case .truncated:
            return "image \(file) is truncated (the data ends before the image does); re-copy or re-download the file"
        case let .corrupt(detail):
            return "image \(file) is corrupt: \(detail); re-export the image or remove its row"
        case let .unsupported(detail):
            return "image \(file) is not supported: \(detail); convert it to 8-bit JPEG or PNG"
        }
    }

    public var errorDescription: String? { description }
}
