import Foundation
import Formats
import Images

/// Tests/Fixtures/images, written by Tools/make_image_fixtures.py.
enum ImageFixtures {
    /// <package>/Tests/ImagesTests/ImageFixtures.swift -> <package>/Tests/Fixtures/images
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static let reference: SafetensorsFile = {
        do {
            return try SafetensorsFile(url: url("reference.safetensors"))
        } catch {
            fatalError("\(error)")
        }
    }()

    /// PIL's `np.asarray(Image.open(p).convert("RGB"))` for `name`.
    static func pilRGB(_ name: String) throws -> RGBImage {
        let key = "rgb8.\(name)"
        let info = try reference.info(key)
        let bytes = try reference.integers(key).map { UInt8($0) }
        return RGBImage(width: info.shape[1], height: info.shape[0], pixels: bytes)
    }

    static let pngNames = [
        "rgb_64x48.png", "rgba_64x48.png", "palette_37x61.png", "palette_trns_37x61.png", "gray_37x61.png",
        "gray_alpha_37x61.png", "bilevel_20x10.png", "gray16_30x20.png", "rgb16_30x20.png",
        "gamma1_30x20.png", "pixel_1x1.png",
    ]
    static let jpegNames = [
        "baseline_88x60.jpg", "baseline444_37x61.jpg", "progressive_88x60.jpg", "restart_64x48.jpg", "gray_64x48.jpg",
        "cmyk_40x30.jpg", "exif_rotated_64x48.jpg", "pixel_1x1.jpg",
    ]
    /// Preprocessed at S = 32 by CLIPImageProcessorPil (from PIL's RGB8).
    static let clip32Names = ["rgb_64x48.png", "palette_37x61.png", "gray16_30x20.png", "pixel_1x1.png"]
    /// Preprocessed at S = 224 (and 32) by CLIPImageProcessorPil, decoded here from the file.
    static let largeNames = ["upscale_150x100.png", "downscale_300x260.png"]
}

/// The largest absolute difference between two equally long arrays and where it is.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> (value: Float, index: Int) {
    precondition(a.count == b.count)
    var worst: Float = 0, at = 0
    for i in a.indices where abs(a[i] - b[i]) > worst {
        worst = abs(a[i] - b[i])
        at = i
    }
    return (worst, at)
}
