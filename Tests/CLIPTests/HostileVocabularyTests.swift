import CZlib
import Foundation
import Testing

@testable import CLIP

/// Vocabulary files and texts a broken download or a hostile user could hand the tokenizer.
/// A bad file must be refused with a TokenizerError naming it, never trap or allocate what an
/// id or a compressed size claims; any text must tokenize. Inputs that scripts/fuzz found are
/// kept here as regression cases, each with a note on what it broke.
@Suite struct HostileVocabularyTests {
    /// A hostile vocabulary: the files it consists of, and which one is at fault.
    struct Hostile: Sendable, CustomTestStringConvertible {
        let name: String
        let vocabularyJSON: [UInt8]
        let merges: [UInt8]
        var testDescription: String { name }

        init(_ name: String, vocabularyJSON: [UInt8], merges: [UInt8] = Array("#version: 0.2\n".utf8)) {
            self.name = name
            self.vocabularyJSON = vocabularyJSON
            self.merges = merges
        }

        init(_ name: String, vocabularyJSON: String) {
            self.init(name, vocabularyJSON: Array(vocabularyJSON.utf8))
        }

        init(_ name: String, merges: [UInt8]) {
            self.init(name, vocabularyJSON: HostileVocabularyTests.smallVocabularyJSON, merges: merges)
        }

        /// vocab.json is at fault unless it is the small valid one.
        var faultyFile: String { vocabularyJSON == HostileVocabularyTests.smallVocabularyJSON ? "merges.txt" : "vocab.json" }
    }

    /// A valid vocab.json: the byte characters, the same with `</w>`, `hi</w>`, the special tokens.
    static let smallVocabularyJSON: [UInt8] = {
        let tokens = ByteToUnicode.strings + ByteToUnicode.strings.map { $0 + "</w>" }
            + ["hi</w>", Vocabulary.startOfTextToken, Vocabulary.endOfTextToken]
        let ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        return [UInt8](try! JSONSerialization.data(withJSONObject: ids, options: .sortedKeys))
    }()

    static let huggingFaceFiles: [Hostile] = [
        Hostile("empty vocab.json", vocabularyJSON: ""),
        Hostile("nested 100,000 deep", vocabularyJSON: String(repeating: "[", count: 100_000)),
        Hostile("NUL bytes", vocabularyJSON: [0, 0x7B, 0x7D, 0]),
        Hostile("invalid UTF-8 in a token", vocabularyJSON: [0x7B, 0x22, 0xFF, 0xC3, 0x22, 0x3A, 0x30, 0x7D]),
        Hostile("negative id", vocabularyJSON: #"{"a": -1}"#),
        Hostile("id 1e300", vocabularyJSON: #"{"a": 1e300}"#),
        // Under the vocabulary fuzz target's address sanitizer: the token table was allocated up
        // to the largest id, whose byte size overflowed (a heap-buffer-overflow) or took all memory.
        Hostile("id 2**62", vocabularyJSON: #"{"a": 4611686018427387904}"#),
        Hostile("id 2**31, beyond the Int32 ids BPE keeps", vocabularyJSON: #"{"<|startoftext|>": 2147483648}"#),
        Hostile("invalid UTF-8 in merges.txt", merges: Array("#version: 0.2\nh ".utf8) + [0xFF, 0xFE, 0x0A]),
        Hostile("a merge of three symbols", merges: Array("#version: 0.2\nh i j\n".utf8)),
        Hostile("a merge of unknown symbols", merges: Array("#version: 0.2\nq zz\n".utf8)),
        Hostile("NUL bytes in a merge", merges: Array("#version: 0.2\nh\0 i</w>\n".utf8)),
        Hostile("a 10 MB merge line", merges: Array("#version: 0.2\n".utf8) + [UInt8](repeating: 0x68, count: 10 << 20)),
    ] + [1, 40, 2000, smallVocabularyJSON.count - 1].map {
        Hostile("vocab.json cut at \($0) bytes", vocabularyJSON: Array(smallVocabularyJSON.prefix($0)))
    }

    @Test(arguments: huggingFaceFiles)
    func huggingFaceLayoutRefuses(_ file: Hostile) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocabulary = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try Data(file.vocabularyJSON).write(to: vocabulary)
        try Data(file.merges).write(to: merges)
        expectRefusal(naming: directory.appendingPathComponent(file.faultyFile)) {
            try CLIPTokenizer(vocabularyJSON: vocabulary, merges: merges)
        }
    }

    @Test func smallVocabularyOfTheCorpusLoads() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocabulary = directory.appendingPathComponent("vocab.json"), merges = directory.appendingPathComponent("merges.txt")
        try Data(Self.smallVocabularyJSON).write(to: vocabulary)
        try Data("#version: 0.2\nh i</w>\n".utf8).write(to: merges)
        let tokenizer = try CLIPTokenizer(vocabularyJSON: vocabulary, merges: merges)
        #expect(tokenizer.tokenStrings(tokenizer.encode("hi")) == ["hi</w>"])
    }

    // MARK: open_clip layout

    static let tinyGzip = [UInt8](try! Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny_vocab.txt.gz")))

    /// `tinyGzip` with the byte `offset` from its end inverted.
    static func tinyGzip(invertingByteFromEnd offset: Int) -> [UInt8] {
        var bytes = tinyGzip
        bytes[bytes.count - offset] = ~bytes[bytes.count - offset]
        return bytes
    }

    static let damagedGzips: [(name: String, bytes: [UInt8])] = [
        ("empty", []),
        ("not gzip", Array("bpe_simple_vocab_16e6.txt".utf8)),
        ("a wrong CRC", tinyGzip(invertingByteFromEnd: 6)),
        ("a wrong inflated size", tinyGzip(invertingByteFromEnd: 2)),
        ("gzip of invalid UTF-8", gzip([0x23, 0x0A, 0xFF, 0x20, 0x61, 0x0A])),
        ("gzip of a merge of three symbols", gzip(Array("#version\na b c\n".utf8))),
        ("gzip of a merge line of NUL bytes", gzip(Array("#version\n".utf8) + [UInt8](repeating: 0, count: 1000))),
        ("a compression bomb of 80 MB", gzip([UInt8](repeating: 0x61, count: 80 << 20))),
    ]

    static let cutGzips: [(name: String, bytes: [UInt8])] = [1, 10, 20, tinyGzip.count / 2, tinyGzip.count - 1].map {
        (name: "cut at \($0) bytes", bytes: Array(tinyGzip.prefix($0)))
    }

    static let openCLIPFiles = damagedGzips + cutGzips

    @Test(arguments: openCLIPFiles.map(\.name))
    func openCLIPLayoutRefuses(_ name: String) throws {
        let bytes = try #require(Self.openCLIPFiles.first { $0.name == name }).bytes
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gzip = directory.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz")
        try Data(bytes).write(to: gzip)
        expectRefusal(naming: gzip) { try CLIPTokenizer(openCLIPVocabulary: gzip) }
    }

    @Test func tinyGzipOfTheCorpusLoads() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gzip = directory.appendingPathComponent("tiny.txt.gz")
        try Data(Self.tinyGzip).write(to: gzip)
        #expect(try CLIPTokenizer(openCLIPVocabulary: gzip).vocabularySize > 512)
    }

    // MARK: Texts

    static let texts: [(name: String, text: String)] = [
        ("NUL bytes", String(repeating: "\0", count: 1000)),
        ("invalid UTF-8, replaced", String(decoding: [0x61, 0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80, 0x62], as: UTF8.self)),
        ("nested HTML escapes", String(repeating: "&amp;", count: 5000) + "lt;"),
        ("numeric references beyond Unicode", "&#99999999999999999999; &#x110000; &#xD800; &#0;"),
        ("an unfinished terminal escape", "\u{1B}[" + String(repeating: "1;", count: 5000)),
        ("combining marks only", String(repeating: "\u{0301}", count: 5000)),
        ("C1 controls", String(String.UnicodeScalarView((0x80...0x9F).map { Unicode.Scalar($0)! }))),
        ("special tokens back to back", String(repeating: "<|endoftext|><|startoftext|>", count: 200)),
        ("a 64 kB word", String(repeating: "ab", count: 32 << 10)),
    ]

    @Test(arguments: texts.map(\.name))
    func anyTextTokenizes(_ name: String) throws {
        let text = try #require(Self.texts.first { $0.name == name }).text
        let tokenizer = try CLIPTokenizer.clip()
        let ids = tokenizer.encode(text)
        #expect(ids.allSatisfy { (0..<tokenizer.vocabularySize).contains($0) })
        let context = try tokenizer.tokenize(text, truncate: true)
        #expect(context.count <= 77 && context.first == tokenizer.startOfText && context.last == tokenizer.endOfText)
    }

    // MARK: Helpers

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-vocabulary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// `load` must throw a TokenizerError whose message names `file`.
private func expectRefusal(naming file: URL, sourceLocation: SourceLocation = #_sourceLocation, _ load: () throws -> CLIPTokenizer) {
    do {
        _ = try load()
        Issue.record("the vocabulary was accepted", sourceLocation: sourceLocation)
    } catch let error as TokenizerError {
        #expect(error.description.contains(file.path), "the message does not name \(file.lastPathComponent): \(error)",
                sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a TokenizerError: \(error)", sourceLocation: sourceLocation)
    }
}

/// `bytes` as one gzip member, compressed by zlib at its best ratio.
private func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var compressed = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
    let status = input.withUnsafeMutableBufferPointer { source in
        compressed.withUnsafeMutableBufferPointer { target in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            stream.next_out = target.baseAddress
            stream.avail_out = uInt(target.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    precondition(status == Z_STREAM_END)
    return Array(compressed.prefix(Int(stream.total_out)))
}
