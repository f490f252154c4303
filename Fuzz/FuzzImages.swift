import Foundation

/// Smaller than the decoder's default cap so that a header claiming a large image costs
/// milliseconds, not a 300 MB buffer per run; the cap itself is the same code either way.
private let maxPixels = 1 << 22

private let preprocessing = CLIPPreprocessing(imageSize: 7)

/// Any bytes as an image file: RGB8 pixels of the size the header gives, or an ImageError.
/// A decoded image also goes through CLIP's preprocessing (resize, crop), whatever its shape.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    do {
        let image = try ImageDecoder.decode(inputData(start, count), name: inputName, maxPixels: maxPixels)
        let pixels = preprocessing.pixels(image)
        if pixels.count != 3 * 7 * 7 { fatalError("preprocessing gave \(pixels.count) values") }
    } catch {
        expectNamed(error, inputName)
    }
    return 0
}
