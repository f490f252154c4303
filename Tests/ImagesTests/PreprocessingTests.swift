import Foundation
import Images
import Testing

/// CLIP preprocessing against transformers' CLIPImageProcessorPil (PIL's resize) and, for
/// scale, its default torchvision-backed CLIPImageProcessor.
struct PreprocessingTests {
    /// One uint8 level after normalisation is 1 / 255 / std ~ 0.0142 to 0.0150; a difference
    /// below 1e-6 means every resized pixel is PIL's and the Float arithmetic is numpy's.
    static let pilTolerance: Float = 1e-6

    @Test(arguments: ImageFixtures.clip32Names)
    func size32EqualsCLIPImageProcessorPil(name: String) throws {
        let image = try ImageFixtures.pilRGB(name)
        let pixels = CLIPPreprocessing(imageSize: 32).pixels(image)
        let expected = try ImageFixtures.reference.floats("clip32.\(name)")
        let (worst, at) = maxAbsDifference(pixels, expected)
        print("\(name) at 32: max |Swift - CLIPImageProcessorPil| = \(worst) at [\(at / 1024), \(at % 1024 / 32), \(at % 32)]")
        #expect(worst <= Self.pilTolerance)
    }

    /// From the file: decoding and preprocessing together, at ViT-B's 224 and at 32.
    @Test(arguments: ImageFixtures.largeNames)
    func fromFileEqualsCLIPImageProcessorPil(name: String) throws {
        let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        for size in [224, 32] {
            let pixels = CLIPPreprocessing(imageSize: size).pixels(image)
            let expected = try ImageFixtures.reference.floats("clip\(size).\(name)")
            let (worst, at) = maxAbsDifference(pixels, expected)
            let plane = size * size
            print("\(name) at \(size): max |Swift - CLIPImageProcessorPil| = \(worst) at [\(at / plane), \(at % plane / size), \(at % size)]")
            #expect(worst <= Self.pilTolerance)
        }
    }

    /// transformers 5's default CLIPImageProcessor resizes with torchvision (antialiased bicubic
    /// on uint8 tensors, rounded differently from PIL's fixed point): on this image the two
    /// paths differ by one uint8 level at most (~0.015 after normalisation), which is checked.
    @Test func torchvisionBackendIsWithinFewLevels() throws {
        let name = ImageFixtures.clip32Names[0]
        let pixels = CLIPPreprocessing(imageSize: 32).pixels(try ImageFixtures.pilRGB(name))
        let expected = try ImageFixtures.reference.floats("clip32tv.\(name)")
        let (worst, _) = maxAbsDifference(pixels, expected)
        let levels = worst * CLIPPreprocessing.clipStd.min()! * 255
        print("\(name) at 32: max |Swift - CLIPImageProcessor (torchvision)| = \(worst) (~\(levels) uint8 levels)")
        #expect(levels <= 1.01)
    }

    /// The output is channel-first: the first plane is red.
    @Test func channelFirstLayout() {
        let red = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12).enumerated().map { $0.offset % 3 == 0 ? 255 : 0 })
        let p = CLIPPreprocessing(imageSize: 2).pixels(red)
        let one = (1 - CLIPPreprocessing.clipMean[0]) / CLIPPreprocessing.clipStd[0]
        #expect(p[0..<4].allSatisfy { $0 == one })
        #expect(p[4..<8].allSatisfy { $0 == (0 - CLIPPreprocessing.clipMean[1]) / CLIPPreprocessing.clipStd[1] })
    }

    /// Resizing to the same size is the identity, and a constant image stays constant through
    /// both filters (weights sum to one in fixed point up to rounding).
    @Test func resizeIdentityAndConstant() {
        var random = LCG(state: 3)
        let pixels = (0..<(17 * 9 * 3)).map { _ in UInt8(truncatingIfNeeded: random.next() >> 32) }
        let image = RGBImage(width: 17, height: 9, pixels: pixels)
        #expect(image.resized(width: 17, height: 9, filter: .bicubic) == image)
        let grey = RGBImage(width: 40, height: 30, pixels: [UInt8](repeating: 77, count: 40 * 30 * 3))
        for filter in [ResampleFilter.bicubic, .bilinear] {
            for (w, h) in [(7, 5), (40, 30), (123, 61)] {
                #expect(grey.resized(width: w, height: h, filter: filter).pixels.allSatisfy { $0 == 77 })
            }
        }
    }
}

/// A small deterministic generator for the tests (Knuth's MMIX LCG).
struct LCG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}
