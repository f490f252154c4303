import CLIP
import Foundation
@testable import Images
import Testing

/// Corrupted files must come back as an ImageError or an image: a JPEG must never reach
/// libjpeg's `error_exit` (which stops the process), a PNG never libpng's abort. Mutations are
/// seeded; the header region, where the fatal checks live, gets half of them.
/// IMAGES_FUZZ_CASES (default 600 per file) and IMAGES_FUZZ_SEED run longer campaigns;
/// IMAGES_FUZZ_LOG=<path> keeps the case being decoded in <path>.<source>.
struct CorruptionTests {
    static let sources = ["baseline_88x60.jpg", "progressive_88x60.jpg", "restart_64x48.jpg", "gray_64x48.jpg", "cmyk_40x30.jpg",
                          "baseline444_37x61.jpg", "rgba_64x48.png", "palette_trns_37x61.png"]

    static func mutate(_ data: [UInt8], random: inout SplitMix64) -> [UInt8] {
        var bytes = data
        let headerEnd = min(bytes.count, 700)
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let position = Bool.random(using: &random) ? Int.random(in: 2..<headerEnd, using: &random) : Int.random(in: 2..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            case 2: bytes.insert(contentsOf: [0xFF, UInt8.random(in: 0...255, using: &random)], at: position)
            default: bytes.remove(at: position)
            }
        }
        return bytes
    }

    /// PNG chunks carry a CRC that would reject nearly every mutation before libpng looks
    /// further; this rewrites each chunk's CRC so mutated headers and data reach the decoder.
    static func withValidCRCs(_ png: [UInt8]) -> [UInt8] {
        var bytes = png
        var pos = 8
        while pos + 12 <= bytes.count {
            let length = Int(bytes[pos]) << 24 | Int(bytes[pos + 1]) << 16 | Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
            guard pos + 12 + length <= bytes.count else { break }
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes[(pos + 4)..<(pos + 8 + length)] {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            crc = ~crc
            for i in 0..<4 { bytes[pos + 8 + length + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
            pos += 12 + length
        }
        return bytes
    }

    @Test(arguments: sources)
    func mutatedFilesGiveErrorsOrImages(source: String) throws {
        let environment = ProcessInfo.processInfo.environment
        let count = Int(environment["IMAGES_FUZZ_CASES"] ?? "") ?? 600
        let log = environment["IMAGES_FUZZ_LOG"]
        var random = SplitMix64(seed: UInt64(environment["IMAGES_FUZZ_SEED"] ?? "") ?? 2024)
        var decoded = 0, refused = 0
        let original = [UInt8](try Data(contentsOf: ImageFixtures.url(source)))
        for i in 0..<count {
            var bytes = Self.mutate(original, random: &random)
            if source.hasSuffix(".png") && Bool.random(using: &random) { bytes = Self.withValidCRCs(bytes) }
            if let log { try Data(bytes).write(to: URL(fileURLWithPath: "\(log).\(source)")) }
            do {
                _ = try ImageDecoder.decode(Data(bytes), name: "\(source)#\(i)")
                decoded += 1
            } catch is ImageError {
                refused += 1
            }
        }
        print("\(source): \(count) mutations, \(decoded) decoded, \(refused) refused, none fatal")
        #expect(decoded + refused == count)
    }
}

/// libjpeg's own fatal errors come back as errors naming the file (through the C shim's jump
/// points), not as a stopped process.
@Suite struct LibJPEGFatalErrorTests {
    @Test func aFatalErrorInsideLibjpegIsReported() throws {
        // SOI, then a start-of-frame claiming 0 x 0 pixels: libjpeg stops with JERR_EMPTY_IMAGE.
        let stream: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9]
        do {
            _ = try stream.withUnsafeBytes { try JPEGDecoding.decodeChecked($0, name: "crafted.jpg", cmyk: false) }
            Issue.record("libjpeg accepted an empty image")
        } catch let error as ImageError {
            #expect(error.file == "crafted.jpg")
            guard case let .corrupt(detail) = error.reason else { Issue.record("\(error)"); return }
            #expect(detail.hasPrefix("libjpeg: "), "\(detail)")
        }
        // The decoder is still usable afterwards.
        let good = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/images/baseline_88x60.jpg"))
        #expect(try ImageDecoder.decode(good, name: "baseline_88x60.jpg").width == 88)
    }
}
