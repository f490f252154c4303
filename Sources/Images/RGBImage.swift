/// An 8-bit RGB image, row-major with interleaved channels: `pixels[(y * width + x) * 3 + c]`,
/// the layout of `np.asarray(Image.open(path).convert("RGB"))` ([H, W, 3]).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
