import CPNG
import Foundation

/// PNG decoding with libpng's simplified API (png_image_*), giving what PIL gives for
/// `Image.open(path).convert("RGB")`.
///
/// The simplified API is used because it catches libpng's errors itself (its own setjmp) and
/// returns them as a message: libpng's other API reports errors with longjmp, which Swift cannot
/// take. Its conversions are then steered to PIL's:
/// - Colour-space chunks (gAMA, sRGB, iCCP, cHRM) are dropped before libpng sees the data: PIL
///   ignores them, and without them libpng treats 8-bit samples as sRGB and 16-bit samples as
///   linear, so asking for 8-bit sRGB or 16-bit linear output passes samples through unchanged.
/// - 8-bit (and 1/2/4-bit, scaled as PIL scales them) images are read as RGBA, and alpha is
///   dropped, not composited: PIL's convert("RGB") drops it. Palette entries are looked up the
///   same way, and a tRNS chunk only feeds the dropped alpha.
/// - 16-bit gray is read raw and clipped at 255 (PIL opens it as I;16, and I;16 -> RGB clips);
///   16-bit RGB is read raw and its high byte kept (PIL's RGB;16B unpacking).
/// - 16-bit images with alpha (or gray with tRNS) cannot be read raw here (16-bit output with
///   alpha is premultiplied), so they are read as 8-bit with the 16-bit samples taken as sRGB:
///   libpng rounds where PIL truncates (the high byte), so a sample can differ by 1 from PIL.
enum PNGDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, maxPixels: Int) throws -> RGBImage {
        // The size is checked from IHDR (always the first chunk, at byte 8) before libpng reads
        // anything, so no row buffer of a huge image is ever allocated.
        if bytes.count >= 24, Array(bytes[12..<16]) == Array("IHDR".utf8) {
            let width = bigEndian32(bytes, at: 16), height = bigEndian32(bytes, at: 20)
            if ImageDecoder.exceeds(width: width, height: height, maxPixels: maxPixels) {
                throw ImageError(file: name, reason: .tooLarge(width: width, height: height, maxPixels: maxPixels))
            }
        }
        let stream = withoutColourSpaceChunks(bytes)
        return try stream.withUnsafeBytes { (data: UnsafeRawBufferPointer) throws -> RGBImage in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, data.baseAddress, data.count) != 0 else {
                // On failure libpng has freed its state already.
                throw failure(image, name: name)
            }
            let width = Int(image.width), height = Int(image.height)
            if ImageDecoder.exceeds(width: width, height: height, maxPixels: maxPixels) {
                png_image_free(&image)
                throw ImageError(file: name, reason: .tooLarge(width: width, height: height, maxPixels: maxPixels))
            }
            let fileFormat = image.format
            let hasAlpha = fileFormat & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
            let sixteenBit = fileFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
            let colour = fileFormat & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
            var pixels = [UInt8](repeating: 0, count: width * height * 3)

            if sixteenBit && !hasAlpha {
                let channels = colour ? 3 : 1
                image.format = UInt32(PNG_FORMAT_FLAG_LINEAR) | (colour ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0)
                var samples = [UInt16](repeating: 0, count: width * height * channels)
                let ok = samples.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw failure(image, name: name) }
                if colour {
                    for i in 0..<samples.count { pixels[i] = UInt8(samples[i] >> 8) }
                } else {
                    for i in 0..<samples.count {
                        let value = UInt8(min(samples[i], 255))
                        pixels[3 * i] = value
                        pixels[3 * i + 1] = value
                        pixels[3 * i + 2] = value
                    }
                }
            } else {
                if sixteenBit { image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB) }
                image.format = UInt32(PNG_FORMAT_FLAG_COLOR) | UInt32(PNG_FORMAT_FLAG_ALPHA)
                var rgba = [UInt8](repeating: 0, count: width * height * 4)
                let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw failure(image, name: name) }
                for i in 0..<(width * height) {
                    pixels[3 * i] = rgba[4 * i]
                    pixels[3 * i + 1] = rgba[4 * i + 1]
                    pixels[3 * i + 2] = rgba[4 * i + 2]
                }
            }
            return RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    private static func failure(_ image: png_image, name: String) -> ImageError {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        // libpng's memory reader says "read beyond end of data"; a cut IDAT stream says
        // "Not enough image data" (or reports a missing chunk).
        let truncation = ["end of data", "Not enough image data", "unexpected end", "Read Error"]
        if truncation.contains(where: { text.localizedCaseInsensitiveContains($0) }) {
            return ImageError(file: name, reason: .truncated)
        }
        return ImageError(file: name, reason: .corrupt("libpng: \(text)"))
    }

    static func bigEndian32(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int {
        Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
    }

    /// The PNG stream with its gAMA, sRGB, iCCP and cHRM chunks left out (chunks are
    /// self-contained: length, type, data, CRC). Walking stops at the first chunk that does not
    /// fit, leaving the rest for libpng to judge.
    static func withoutColourSpaceChunks(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let dropped: Set<String> = ["gAMA", "sRGB", "iCCP", "cHRM"]
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: bytes.prefix(8))
        var pos = 8
        while pos + 12 <= bytes.count {
            let length = bigEndian32(bytes, at: pos)
            let end = pos + 12 + length
            guard length <= Int(Int32.max), end <= bytes.count else { break }
            let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
            if !dropped.contains(type) { out.append(contentsOf: bytes[pos..<end]) }
            pos = end
        }
        out.append(contentsOf: bytes[pos...])
        return out
    }
}
