import Foundation

/// Decodes JPEG and PNG files to RGB8, as PIL's `Image.open(path).convert("RGB")` does. The
/// format is told by the file's signature, not its extension.
public enum ImageDecoder {
    /// Images above this many pixels are refused from their header, before any pixel buffer is
    /// allocated (100 megapixels = 300 MB of RGB8; CLIP only ever sees 224x224).
    public static let defaultMaxPixels = 100_000_000

    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let name = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory) else {
            throw ImageError(file: name, reason: .cannotRead("no such file"))
        }
        if isDirectory.boolValue { throw ImageError(file: name, reason: .cannotRead("it is a directory")) }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageError(file: name, reason: .cannotRead(error.localizedDescription))
        }
        return try decode(data, name: name, maxPixels: maxPixels)
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
