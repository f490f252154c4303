import Foundation
import Images
import Testing

/// Decoding against PIL's `np.asarray(Image.open(p).convert("RGB"))`.
struct DecodingTests {
    /// libpng and PIL's zlib-based PNG reader must agree exactly: PNG is lossless and every
    /// conversion (palette, gray, alpha dropped, 16-bit) is integer.
    @Test(arguments: ImageFixtures.pngNames)
    func pngEqualsPIL(name: String) throws {
        let decoded = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        let expected = try ImageFixtures.pilRGB(name)
        #expect(decoded.width == expected.width && decoded.height == expected.height)
        let differing = zip(decoded.pixels, expected.pixels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(name): \(differing) of \(expected.pixels.count) samples differ from PIL")
    }

    /// 16-bit RGBA is read through libpng's 8-bit sRGB path, which rounds where PIL keeps the
    /// high byte: within 1.
    @Test func sixteenBitWithAlphaWithinOne() throws {
        let name = "rgba16_30x20.png"
        let decoded = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        let expected = try ImageFixtures.pilRGB(name)
        let worst = zip(decoded.pixels, expected.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        print("\(name): max |libpng - PIL| = \(worst)")
        #expect(worst <= 1)
    }

    /// Debian's libjpeg-turbo and the one inside Pillow's wheel run the same ISLOW IDCT and
    /// fancy upsampling; the tolerance allows one level for a different build (SIMD paths are
    /// meant to be exact, so 0 is expected and printed).
    @Test(arguments: ImageFixtures.jpegNames)
    func jpegMatchesPIL(name: String) throws {
        let decoded = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
        let expected = try ImageFixtures.pilRGB(name)
        try #require(decoded.width == expected.width && decoded.height == expected.height,
                     "\(name): \(decoded.width)x\(decoded.height), PIL \(expected.width)x\(expected.height)")
        var worst = 0, at = 0, differing = 0
        for i in decoded.pixels.indices {
            let d = abs(Int(decoded.pixels[i]) - Int(expected.pixels[i]))
            if d > 0 { differing += 1 }
            if d > worst { worst = d; at = i }
        }
        let (y, x, c) = (at / 3 / decoded.width, at / 3 % decoded.width, at % 3)
        print("\(name): max |libjpeg-turbo - PIL| = \(worst) at (y \(y), x \(x), c \(c)), \(differing) samples differ")
        #expect(worst <= 1)
    }

    @Test func formatComesFromSignatureNotExtension() throws {
        let png = try Data(contentsOf: ImageFixtures.url("rgb_64x48.png"))
        let asJPEGName = try ImageDecoder.decode(png, name: "photo.jpg")
        #expect(asJPEGName == (try ImageFixtures.pilRGB("rgb_64x48.png")))
    }
}

/// Every bad file gives its own reason, naming the file.
struct BadImageTests {
    static func reason(_ name: String) -> ImageError.Reason? {
        do {
            _ = try ImageDecoder.decode(contentsOf: ImageFixtures.url(name))
            return nil
        } catch let error as ImageError {
            #expect(error.file.hasSuffix(name))
            #expect(error.description.contains(name))
            return error.reason
        } catch {
            Issue.record("\(name): not an ImageError: \(error)")
            return nil
        }
    }

    @Test func missingFile() {
        guard case .cannotRead = Self.reason("no_such_image.jpg") else {
            Issue.record("missing file not reported as unreadable")
            return
        }
    }

    @Test func zeroByteFile() {
        #expect(Self.reason("empty.png") == .empty)
    }

    @Test func textNamedPNG() {
        #expect(Self.reason("text.png") == .unknownFormat(firstBytes: Array("label,pa".utf8)))
    }

    @Test func truncatedJPEG() {
        #expect(Self.reason("truncated.jpg") == .truncated)
    }

    @Test func truncatedPNG() {
        let reason = Self.reason("truncated.png")
        #expect(reason == .truncated, "\(String(describing: reason))")
    }

    @Test func twelveBitJPEG() {
        guard case .unsupported = Self.reason("precision12.jpg") else {
            Issue.record("12-bit JPEG not reported as unsupported")
            return
        }
    }

    @Test func hugePNGRefusedFromItsHeader() {
        #expect(Self.reason("huge_20000x20000.png") == .tooLarge(width: 20000, height: 20000, maxPixels: ImageDecoder.defaultMaxPixels))
    }

    /// PNG sides go up to 2^32 - 1: the pixel count must not overflow (found by the
    /// corruption tests). The header is read before any CRC check, so zeros stand for it.
    @Test func pngSidesNearTwoToThe32() {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        bytes += Array("IHDR".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8, 2, 0, 0, 0, 0, 0, 0, 0]
        #expect(throws: ImageError(file: "wide.png", reason: .tooLarge(width: 4_294_967_295, height: 4_294_967_295, maxPixels: ImageDecoder.defaultMaxPixels))) {
            try ImageDecoder.decode(Data(bytes), name: "wide.png")
        }
    }

    @Test func pixelCapApplies() throws {
        let url = ImageFixtures.url("baseline_88x60.jpg")
        #expect(throws: ImageError(file: url.path, reason: .tooLarge(width: 88, height: 60, maxPixels: 1000))) {
            try ImageDecoder.decode(contentsOf: url, maxPixels: 1000)
        }
        #expect(try ImageDecoder.decode(contentsOf: url, maxPixels: 88 * 60).width == 88)
    }

    /// All scans present but no EOI marker: reported as truncated (PIL's "image file is
    /// truncated"), not decoded.
    @Test func jpegWithoutEOIIsTruncated() throws {
        let data = try Data(contentsOf: ImageFixtures.url("baseline_88x60.jpg"))
        #expect(data.suffix(2) == Data([0xFF, 0xD9]))
        #expect(throws: ImageError(file: "no-eoi.jpg", reason: .truncated)) {
            try ImageDecoder.decode(data.dropLast(2), name: "no-eoi.jpg")
        }
        // Bytes after EOI are not looked at.
        let trailing = try ImageDecoder.decode(data + Data("trailing".utf8), name: "trailing.jpg")
        #expect(trailing == (try ImageFixtures.pilRGB("baseline_88x60.jpg")))
    }

    /// Every prefix of a JPEG is refused or reported truncated, never decoded, never fatal.
    @Test func everyJPEGPrefixIsAnError() throws {
        let data = try Data(contentsOf: ImageFixtures.url("progressive_88x60.jpg"))
        for length in stride(from: 1, to: data.count, by: 7) {
            #expect(throws: ImageError.self) { try ImageDecoder.decode(data.prefix(length), name: "prefix-\(length)") }
        }
    }
}

/// PNGEncoder writes what the decoder (and so PIL) reads back exactly; a fixture re-encoded
/// decodes to the same pixels.
@Test func pngEncoderRoundTrips() throws {
    var random = SystemRandomNumberGenerator()
    let image = RGBImage(width: 37, height: 5, pixels: (0..<(37 * 5 * 3)).map { _ in UInt8.random(in: 0...255, using: &random) })
    let data = try PNGEncoder.encode(image)
    #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    #expect(try ImageDecoder.decode(data, name: "written.png") == image)
    let fixture = try ImageDecoder.decode(contentsOf: ImageFixtures.url("palette_37x61.png"))
    #expect(try ImageDecoder.decode(try PNGEncoder.encode(fixture), name: "again.png") == fixture)
}
