import CPNG
import Foundation

/// PNG encoding with libpng's simplified API (8-bit RGB, no colour-space chunks), for images a
/// program makes itself (the demo's synthetic images); ImageDecoder reads them back unchanged.
public enum PNGEncoder {
    public static func encode(_ image: RGBImage) throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        let stride = Int32(3 * image.width)
        // First the size libpng needs, then the bytes.
        var size = 0
        let measured = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
        guard measured != 0, size > 0 else { throw failure(png) }
        var data = Data(count: size)
        let written = data.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, out.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        guard written != 0 else { throw failure(png) }
        return data.prefix(size)
    }

    private static func failure(_ image: png_image) -> ImageError {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return ImageError(file: "(PNG being written)", reason: .corrupt("libpng: \(text)"))
    }
}
