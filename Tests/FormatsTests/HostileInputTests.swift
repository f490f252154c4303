import Foundation
import Testing

@testable import Formats

/// Files a broken disk, a wrong download or a hostile user could hand each reader. Every one
/// must be refused with the reader's typed error, whose message names the file; none may trap,
/// hang or allocate what a header merely claims. Inputs that scripts/fuzz found are kept here
/// as regression cases, each with a note on what it broke.
@Suite struct HostileInputTests {
    /// One hostile file: what it is, and its bytes.
    struct Hostile: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        var testDescription: String { name }

        init(_ name: String, _ bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }

        init(_ name: String, _ text: String) {
            self.init(name, Array(text.utf8))
        }
    }

    /// Every proper prefix of `bytes` at the given lengths (a file cut short by a copy).
    static func prefixes(of bytes: [UInt8], named name: String, at lengths: [Int]) -> [Hostile] {
        lengths.map { Hostile("\(name) cut at \($0) bytes", Array(bytes.prefix($0))) }
    }

    static let tenMegabytes = 10 << 20

    // MARK: CSV

    static let validCSV = Array("name,note\r\ncat,\"a \"\"quoted\"\", multi\nline field\"\r\n".utf8)

    static let csvFiles: [Hostile] = [
        Hostile("empty", []),
        Hostile("byte-order mark only", [0xEF, 0xBB, 0xBF]),
        Hostile("line ends only", "\r\n\n\r\r\n"),
        Hostile("quote never closed", "a,b\n\"open,x\n"),
        Hostile("text after a closing quote", "a,b\n\"x\"y,z\n"),
        Hostile("quote inside an unquoted field", "a,b\nx\"y,z\n"),
        Hostile("duplicate column", "a,b,a\n1,2,3\n"),
        Hostile("byte 0xFF", [0x61, 0x2C, 0x62, 0x0A, 0xFF, 0x2C, 0x63, 0x0A]),
        Hostile("overlong UTF-8 for '/'", [0x61, 0x0A, 0xC0, 0xAF, 0x0A]),
        Hostile("UTF-8 of a surrogate", [0x61, 0x0A, 0xED, 0xA0, 0x80, 0x0A]),
        Hostile("UTF-8 cut in a character", [0x61, 0x0A, 0xE2, 0x82]),
        Hostile("NUL bytes in a short row", [0x61, 0x2C, 0x62, 0x0A, 0x00, 0x00, 0x00, 0x0A]),
        Hostile("10 MB quoted field never closed", Array("a\n\"".utf8) + [UInt8](repeating: 0x78, count: tenMegabytes)),
        Hostile("10 MB field in a short row", Array("a,b\n".utf8) + [UInt8](repeating: 0x78, count: tenMegabytes)),
    ] + prefixes(of: validCSV, named: "a quoted multi-line field", at: [13, 20, 33, 40, validCSV.count - 3])

    @Test(arguments: csvFiles)
    func csvRefuses(_ file: Hostile) {
        expectRefusal(CSVError.self, naming: "hostile.csv") {
            _ = try CSV.parse(Data(file.bytes), file: "hostile.csv")
        }
    }

    // MARK: NPY

    /// A version `version` .npy file with the header dict `dict` (padded as numpy pads it).
    static func npy(_ dict: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
        var header = Array(dict.utf8)
        let lengthBytes = version == 1 ? 2 : 4
        let unpadded = 8 + lengthBytes + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
        let length = (0..<lengthBytes).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + header + data
    }

    static func npyShape(_ shape: String, descr: String = "<f4") -> [UInt8] {
        npy("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }")
    }

    static let validNPY = npyShape("(1, 2)") + [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]

    static let npyFiles: [Hostile] = [
        Hostile("empty", []),
        Hostile("a zip file", [0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]),
        Hostile("version 9", [0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0]),
        Hostile("header length 2^32 - 1", [0x93] + Array("NUMPY".utf8) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7B]),
        Hostile("shape (2**62, 2**62)", npyShape("(4611686018427387904, 4611686018427387904)")),
        Hostile("shape (2**61, 1): 2**63 bytes", npyShape("(2305843009213693952, 1)")),
        Hostile("shape beyond Int", npyShape("(99999999999999999999, 1)")),
        Hostile("negative shape", npyShape("(-1, 4)")),
        Hostile("Arabic-Indic digit in the shape", npyShape("(\u{0663}, 1)")),
        Hostile("three dimensions", npyShape("(1, 2, 3)")),
        Hostile("big-endian floats", npyShape("(1, 2)", descr: ">f4") + [UInt8](repeating: 0, count: 8)),
        Hostile("float64", npyShape("(1, 1)", descr: "<f8") + [UInt8](repeating: 0, count: 8)),
        Hostile("Fortran order", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", data: [0, 0, 0, 0])),
        Hostile("NUL bytes in the header", npy("{'descr': '<f4',\0\0 'fortran_order': False, 'shape': (1, 1), }")),
        Hostile("header string never closed", npy("{'descr': '<f4, 'fortran_order")),
        Hostile("header without shape", npy("{'descr': '<f4', 'fortran_order': False, }")),
        Hostile("header with an unknown key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 1}")),
        Hostile("header not a dict", npy("[1, 2]")),
        Hostile("invalid UTF-8 in a 3.0 header", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", version: 3)
            .map { $0 == 0x3C ? 0xFF : $0 }),
        Hostile("bytes after the data", validNPY + [0]),
    ] + prefixes(of: validNPY, named: "a 1x2 matrix", at: [1, 6, 8, 9, 10, 40, validNPY.count - 8, validNPY.count - 1])

    @Test(arguments: npyFiles)
    func npyRefuses(_ file: Hostile) {
        expectRefusal(NPYError.self, naming: "hostile.npy") {
            _ = try NPY.parse(Data(file.bytes), file: "hostile.npy")
        }
    }

    // MARK: safetensors

    /// A safetensors file: the 8-byte header length (the header's own unless given), header, data.
    static func safetensors(_ header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { Array($0) } + json + data
    }

    /// `header`'s bytes after their length, as a safetensors file with no data.
    static func lengthPrefixed(_ header: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header
    }

    static func tensor(_ shape: String, _ offsets: String, dtype: String = "\"F32\"") -> String {
        #"{"t":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}}"#
    }

    static let eightBytes = [UInt8](repeating: 0, count: 8)
    static let validSafetensors = safetensors(tensor("[2]", "[0,8]"), data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])

    static let safetensorsFiles: [Hostile] = [
        Hostile("empty", []),
        Hostile("seven bytes", [UInt8](repeating: 0, count: 7)),
        Hostile("header length 2^63", safetensors("{}", headerLength: 1 << 63)),
        Hostile("header length 2^64 - 1", safetensors("{}", headerLength: .max)),
        Hostile("header length one past the file", safetensors("{}", headerLength: 3)),
        Hostile("header length 10 MB in a small file", safetensors("{}", headerLength: UInt64(tenMegabytes))),
        Hostile("header nested 100,000 deep", safetensors(String(repeating: "[", count: 100_000))),
        Hostile("header of NUL bytes", lengthPrefixed([0, 0, 0, 0])),
        Hostile("invalid UTF-8 in the header", lengthPrefixed([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])),
        Hostile("header null", safetensors("null")),
        Hostile("header a string", safetensors("\"t\"")),
        Hostile("offsets past the end", safetensors(tensor("[2]", "[0,1099511627776]"), data: eightBytes)),
        Hostile("offsets beyond an exact double", safetensors(tensor("[2]", "[0,18446744073709551616]"), data: eightBytes)),
        Hostile("negative offset", safetensors(tensor("[2]", "[-8,0]"), data: eightBytes)),
        Hostile("end before begin", safetensors(tensor("[2]", "[8,0]"), data: eightBytes)),
        Hostile("three offsets", safetensors(tensor("[2]", "[0,8,16]"), data: eightBytes)),
        Hostile("offsets as strings", safetensors(tensor("[2]", #"["0","8"]"#), data: eightBytes)),
        Hostile("overlapping tensors", safetensors(
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            data: eightBytes)),
        Hostile("a gap between tensors", safetensors(
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}}"#,
            data: eightBytes)),
        Hostile("shape (2**40, 2**40)", safetensors(tensor("[1099511627776,1099511627776]", "[0,8]"), data: eightBytes)),
        Hostile("shape (2**61,) of F32: 2**63 bytes", safetensors(tensor("[2305843009213693952]", "[0,8]"), data: eightBytes)),
        Hostile("negative dimension", safetensors(tensor("[-2]", "[0,8]"), data: eightBytes)),
        Hostile("fractional dimension", safetensors(tensor("[1.5]", "[0,8]"), data: eightBytes)),
        Hostile("boolean dimension", safetensors(tensor("[true]", "[0,8]"), data: eightBytes)),
        Hostile("numeric dtype", safetensors(tensor("[2]", "[0,8]", dtype: "7"), data: eightBytes)),
        Hostile("nested metadata", safetensors(#"{"__metadata__":{"k":{"n":1}}}"#)),
    ] + prefixes(of: validSafetensors, named: "a two-float tensor", at: [1, 7, 8, 20, validSafetensors.count - 8, validSafetensors.count - 1])

    @Test(arguments: safetensorsFiles)
    func safetensorsRefuses(_ file: Hostile) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString).safetensors")
        try Data(file.bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        expectRefusal(SafetensorsError.self, naming: url.path) {
            _ = try SafetensorsFile(url: url)
        }
    }

    // MARK: Dassl split

    static let validSplit = Array(#"{"train": [["a/1.jpg", 0, "cat"]], "test": [["b/2.jpg", 1, "dog"]]}"#.utf8)

    static func splitWithLabel(_ label: String) -> String {
        #"{"train": [["a/1.jpg", \#(label), "cat"]]}"#
    }

    static let splitFiles: [Hostile] = [
        Hostile("empty", []),
        Hostile("nested 100,000 deep", String(repeating: "[", count: 100_000)),
        Hostile("a list at the top", "[1, 2]"),
        Hostile("NUL bytes", [0, 0x7B, 0x7D, 0]),
        Hostile("invalid UTF-8 in a path", Array(#"{"train": [[""#.utf8) + [0xFF, 0xFE] + Array(#"", 0, "cat"]]}"#.utf8)),
        Hostile("split not a list", #"{"train": {"a": 1}}"#),
        Hostile("item of two", #"{"train": [["a/1.jpg", 0]]}"#),
        Hostile("label a string", splitWithLabel("\"0\"")),
        Hostile("negative label", splitWithLabel("-1")),
        Hostile("fractional label", splitWithLabel("1.5")),
        Hostile("boolean label", splitWithLabel("true")),
        Hostile("label 1e300", splitWithLabel("1e300")),
        Hostile("label 2**64", splitWithLabel("18446744073709551616")),
        Hostile("no items", #"{"train": [], "val": [], "test": []}"#),
        Hostile("unknown key", #"{"train": [["a/1.jpg", 0, "cat"]], "extra": []}"#),
        Hostile("one label, two names", #"{"train": [["a", 0, "cat"], ["b", 0, "dog"]]}"#),
        Hostile("10 MB path in an item of two", Array(#"{"train": [[""#.utf8) + [UInt8](repeating: 0x78, count: tenMegabytes) + Array(#"", 0]]}"#.utf8)),
    ] + prefixes(of: validSplit, named: "a two-item split", at: [1, 10, 30, validSplit.count - 1])

    @Test(arguments: splitFiles)
    func dasslSplitRefuses(_ file: Hostile) {
        expectRefusal(DasslSplitError.self, naming: "hostile.json") {
            _ = try DasslSplit.parse(Data(file.bytes), file: "hostile.json")
        }
    }

    @Test func validFilesOfTheCorpusAreRead() throws {
        #expect(try CSV.parse(Data(Self.validCSV), file: "v.csv").records.first?.fields[1] == "a \"quoted\", multi\nline field")
        #expect(try NPY.parse(Data(Self.validNPY), file: "v.npy").values == [1, 2])
        #expect(try DasslSplit.parse(Data(Self.validSplit), file: "v.json").labels == [0, 1])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("valid-\(UUID().uuidString).safetensors")
        try Data(Self.validSafetensors).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try SafetensorsFile(url: url).floats("t") == [1, 2])
    }
}

/// `read` must throw an `E` whose message names `file`.
private func expectRefusal<E: Error & CustomStringConvertible>(
    _: E.Type, naming file: String, sourceLocation: SourceLocation = #_sourceLocation, _ read: () throws -> Void
) {
    do {
        try read()
        Issue.record("the file was accepted", sourceLocation: sourceLocation)
    } catch let error as E {
        #expect(error.description.contains(file), "the message does not name the file: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a \(E.self): \(error)", sourceLocation: sourceLocation)
    }
}
