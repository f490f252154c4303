import Formats
import Foundation

/// Decodes JPEG and PNG files to RGB8, as PIL's `Image.open(path).convert("RGB")` does. The
/// format is told by the file's signature, not its extension.
public enum ImageDecoder {
    /// Images above this many pixels are refused from their header, before any pixel buffer is
    /// allocated (100 megapixels = 300 MB of RGB8; CLIP only ever sees 224x224).
    public static let defaultMaxPixels = 100_000_000

    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(try contents(ofFile: url.path), name: url.path, maxPixels: maxPixels)
    }

    /// The bytes of the image file at `path`, which must be a regular file: its kind is told
    /// before it is opened (opening a FIFO waits for a writer forever; a folder or a device
    /// holds no image).
    public static func contents(ofFile path: String) throws -> Data {
        switch FileKind(path: path) {
        case .regular: break
        case .missing: throw ImageError(file: path, reason: .cannotRead("no such file"))
        case let .unreachable(reason): throw ImageError(file: path, reason: .cannotRead(reason))
        case let kind: throw ImageError(file: path, reason: .notAFile(kind))
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw ImageError(file: path, reason: .cannotRead(error.localizedDescription))
        }
    }

    /// Decodes in-memory file contents; `name` is the file named in errors.
    public static func decode(_ data: Data, name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard !data.isEmpty else { throw ImageError(file: name, reason: .empty) }
        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws -> RGBImage in
            switch ImageFormat(signature: bytes) {
            case .jpeg: return try JPEGDecoding.decode(bytes, name: name, maxPixels: maxPixels)
            case .png: return try PNGDecoding.decode(bytes, name: name, maxPixels: maxPixels)
            case nil: throw ImageError(file: name, reason: .unknownFormat(firstBytes: Array(bytes.prefix(8))))
            }
        }
    }

    /// Whether a header's size is above the cap; PNG sides go up to 2^32 - 1, so the product
    /// can overflow.
    static func exceeds(width: Int, height: Int, maxPixels: Int) -> Bool {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        return overflow || pixels > maxPixels
    }
}

/// The formats read, by their signatures.
enum ImageFormat {
    case jpeg
    case png

    init?(signature bytes: UnsafeRawBufferPointer) {
        // JPEG: SOI (FF D8) then the first marker's FF. PNG: its fixed 8-byte signature.
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else {
            return nil
        }
    }
}
