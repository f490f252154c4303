import Foundation
@testable import Images
import Testing

/// Image files a broken disk or a hostile user could hand the decoder: each must be refused
/// with an ImageError naming the file, before libjpeg or libpng can stop the process and
/// before any buffer of the size a header merely claims is allocated.
@Suite struct HostileImageTests {
    typealias Hostile = (name: String, bytes: [UInt8])

    static func fixture(_ name: String) -> [UInt8] {
        [UInt8]((try? Data(contentsOf: ImageFixtures.url(name))) ?? Data())
    }

    static let jpeg = fixture("baseline_88x60.jpg")
    static let png = fixture("pixel_1x1.png")

    /// `bytes` with `replacement` written at `offset`.
    static func patched(_ bytes: [UInt8], at offset: Int, _ replacement: [UInt8]) -> [UInt8] {
        var out = bytes
        out.replaceSubrange(offset..<(offset + replacement.count), with: replacement)
        return out
    }

    /// The JPEG fixture with its frame header's height and width replaced.
    static func jpegOfSize(height: UInt16, width: UInt16) -> [UInt8] {
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        return patched(jpeg, at: sof + 5, [UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF)])
    }

    /// The PNG fixture with IHDR's width and height replaced and its CRC made right again, so
    /// that the size itself is what the decoder judges.
    static func pngOfSize(width: UInt32, height: UInt32) -> [UInt8] {
        let sizes = [width, height].flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
        return CorruptionTests.withValidCRCs(patched(png, at: 16, sizes))
    }

    /// Cuts inside the image data (a PNG that ends without IEND still decodes, as in PIL).
    static func cuts(of bytes: [UInt8], _ format: String, at lengths: [Int]) -> [Hostile] {
        lengths.map { (name: "\(format) cut at \($0) bytes", bytes: Array(bytes.prefix($0))) }
    }

    static let files: [Hostile] = [
        ("empty", []),
        ("NUL bytes", [UInt8](repeating: 0, count: 1000)),
        ("JPEG start of image only", [0xFF, 0xD8, 0xFF]),
        ("JPEG start of image and 10 MB of fill bytes", [0xFF, 0xD8] + [UInt8](repeating: 0xFF, count: 10 << 20)),
        ("JPEG of 65535x65535", jpegOfSize(height: 65535, width: 65535)),
        ("JPEG of 65000x65000, above the pixel cap", jpegOfSize(height: 65000, width: 65000)),
        ("JPEG of width 0", jpegOfSize(height: 60, width: 0)),
        ("JPEG with a second start of image", [0xFF, 0xD8] + jpeg),
        ("JPEG segment length below 2", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0x00]),
        ("PNG signature only", Array(png.prefix(8))),
        ("PNG of 2^31-1 x 2^31-1", pngOfSize(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF)),
        ("PNG of 2^32-1 x 2^32-1", pngOfSize(width: .max, height: .max)),
        ("PNG of 0x0", pngOfSize(width: 0, height: 0)),
        ("PNG with a bad IHDR CRC", patched(png, at: 29, [~png[29]])),
        ("PNG with a bad IDAT CRC", patched(png, at: png.count - 16, [~png[png.count - 16]])),
        ("PNG chunk of length 2^32-1", Array(png.prefix(33)) + [0xFF, 0xFF, 0xFF, 0xFF] + Array("IDAT".utf8) + [0, 0, 0, 0]),
        ("PNG claiming 20000x20000", fixture("huge_20000x20000.png")),
    ] + cuts(of: jpeg, "JPEG", at: [2, 4, 20, 200, jpeg.count / 2, jpeg.count - 2])
        + cuts(of: png, "PNG", at: [9, 20, 33, 45, 50])

    @Test(arguments: files.map(\.name))
    func decoderRefuses(_ name: String) throws {
        let file = try #require(Self.files.first { $0.name == name })
        do {
            let image = try ImageDecoder.decode(Data(file.bytes), name: "hostile-image")
            Issue.record("decoded a \(image.width)x\(image.height) image")
        } catch let error as ImageError {
            #expect(error.file == "hostile-image" && error.description.contains("hostile-image"), "\(error)")
        } catch {
            Issue.record("not an ImageError: \(error)")
        }
    }

    @Test func filesTheCorpusDamagesAreDecoded() throws {
        #expect(try ImageDecoder.decode(Data(Self.jpeg), name: "j").width == 88)
        #expect(try ImageDecoder.decode(Data(Self.png), name: "p").width == 1)
        #expect(try ImageDecoder.decode(Data(Self.pngOfSize(width: 1, height: 1)), name: "p").height == 1)
    }
}
