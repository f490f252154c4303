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

    /// The size a stream's header claims: JPEG's first frame header (SOFn), PNG's IHDR; nil
    /// when there is none where the format puts it.
    static func headerSize(_ b: [UInt8]) -> (width: Int, height: Int)? {
        func be(_ i: Int, _ n: Int) -> Int { b[i..<(i + n)].reduce(0) { $0 << 8 | Int($1) } }
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else { return nil }
            return (be(16, 4), be(20, 4))
        }
        var pos = 2
        while true {
            // Bytes up to a marker's FF are skipped, as are fill bytes and a stuffed 00.
            while pos < b.count && b[pos] != 0xFF { pos += 1 }
            while pos < b.count && b[pos] == 0xFF { pos += 1 }
            guard pos + 2 < b.count else { return nil }
            let marker = b[pos]
            pos += 1
            if marker == 0 || (0xD0...0xD7).contains(marker) || marker == 0x01 { continue }
            if marker == 0xDA || marker == 0xD9 { return nil }
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                guard pos + 7 <= b.count else { return nil }
                return (be(pos + 5, 2), be(pos + 3, 2))
            }
            pos += be(pos, 2)
        }
    }

    /// Every mutated stream is decoded to an image of the size its header claims, whose CLIP
    /// input is finite, or refused with an ImageError that names the file and whose reason
    /// agrees with the stream.
    @Test(arguments: sources)
    func mutatedFilesGiveErrorsOrImages(source: String) throws {
        let environment = ProcessInfo.processInfo.environment
        let count = Int(environment["IMAGES_FUZZ_CASES"] ?? "") ?? 600
        let log = environment["IMAGES_FUZZ_LOG"]
        var random = SplitMix64(seed: UInt64(environment["IMAGES_FUZZ_SEED"] ?? "") ?? 2024)
        var decoded = 0, refused = 0
        let original = [UInt8](try Data(contentsOf: ImageFixtures.url(source)))
        let preprocessing = CLIPPreprocessing(imageSize: 16)
        for i in 0..<count {
            var bytes = Self.mutate(original, random: &random)
            if source.hasSuffix(".png") && Bool.random(using: &random) { bytes = Self.withValidCRCs(bytes) }
            if let log { try Data(bytes).write(to: URL(fileURLWithPath: "\(log).\(source)")) }
            let name = "\(source)#\(i)"
            do {
                let image = try ImageDecoder.decode(Data(bytes), name: name)
                decoded += 1
                let header = try #require(Self.headerSize(bytes), "\(name) decoded without a frame header")
                #expect(image.width == header.width && image.height == header.height,
                        "\(name): \(image.width)x\(image.height) decoded, \(header.width)x\(header.height) in the header")
                #expect(preprocessing.pixels(image).allSatisfy { $0.isFinite }, "\(name)")
            } catch let error as ImageError {
                refused += 1
                #expect(error.file == name && error.description.contains(name), "\(error)")
                switch error.reason {
                case let .unknownFormat(firstBytes):
                    #expect(firstBytes == Array(bytes.prefix(8)), "\(name)")
                    #expect(!bytes.starts(with: [0xFF, 0xD8, 0xFF]) && !bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
                            "\(name) has a signature but was refused as of unknown format")
                case let .tooLarge(width, height, maxPixels):
                    #expect(width * height > maxPixels, "\(name)")
                    if let header = Self.headerSize(bytes) { #expect(header == (width, height), "\(name)") }
                case .cannotRead, .notAFile, .empty:
                    Issue.record("\(name): refused as unreadable or empty: \(error)")
                case .truncated, .corrupt, .unsupported:
                    break
                }
            }
        }
        print("\(source): \(count) mutations, \(decoded) decoded, \(refused) refused, none fatal")
        // Both outcomes are exercised: the mutations reach the decoders, not only the checks.
        #expect(decoded > 0 && refused > 0)
    }

    /// Damage whose outcome is known is refused, with its reason and the file's name.
    @Test(arguments: sources)
    func knownDamagesAreRefused(source: String) throws {
        let original = [UInt8](try Data(contentsOf: ImageFixtures.url(source)))
        var damaged: [(String, [UInt8], ImageError.Reason?)] = []
        let n = original.count
        // Cut right after the signature, in the first segment or chunk, mid-data and near the end
        // of the image data (a PNG cut only in IEND decodes, as in PIL).
        let png = source.hasSuffix(".png")
        for cut in png ? [9, 14, 30, n / 2, n - 20] : [3, 10, 30, n / 2, n - 2] { damaged.append(("cut at \(cut)", Array(original.prefix(cut)), .truncated)) }
        if png {
            var badCRC = original
            badCRC[29] ^= 0xFF  // IHDR's CRC
            damaged.append(("IHDR CRC", badCRC, nil))
            var badDepth = original
            badDepth[24] = 7  // a bit depth PNG does not have
            damaged.append(("bit depth 7", Self.withValidCRCs(badDepth), nil))
        } else {
            var unknown = original
            unknown[3] = 0x02  // the marker after SOI becomes FF 02, a reserved marker
            damaged.append(("marker FF02", unknown, .corrupt("unknown marker 0xFF02")))
            damaged.append(("second SOI", [0xFF, 0xD8] + original, .corrupt("a second SOI marker")))
        }
        for (damage, bytes, expected) in damaged {
            let name = "\(source) (\(damage))"
            do {
                let image = try ImageDecoder.decode(Data(bytes), name: name)
                Issue.record("\(name) decoded to \(image.width)x\(image.height)")
            } catch let error as ImageError {
                #expect(error.file == name, "\(error)")
                if let expected {
                    #expect(error.reason == expected, "\(name): \(error)")
                } else {
                    guard case let .corrupt(detail) = error.reason else { Issue.record("\(name): \(error.reason)"); continue }
                    #expect(detail.hasPrefix("libpng: "), "\(name): \(error)")
                }
            }
        }
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
