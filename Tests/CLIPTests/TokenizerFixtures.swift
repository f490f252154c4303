import Foundation
import Testing
@testable import CLIP

/// Where the tokenizer tests find their files, relative to this source file.
enum TokenizerFixtures {
    /// <package>/Tests/CLIPTests/TokenizerFixtures.swift -> <package>
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer")
    /// CLIP's real vocabulary in open_clip's layout: the copy the CLIP module ships.
    static let openCLIPVocabulary = CLIPTokenizer.defaultVocabulary

    /// The two layouts of the real vocabulary.
    enum Layout: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case huggingFace = "vocab.json + merges.txt"
        case openCLIP = "bpe_simple_vocab_16e6.txt.gz"

        var testDescription: String { rawValue }
    }

    /// Both real tokenizers, loaded once for all test cases.
    static let tokenizers: [Layout: Result<CLIPTokenizer, Error>] = {
        var loaded: [Layout: Result<CLIPTokenizer, Error>] = [:]
        for layout in Layout.allCases {
            loaded[layout] = Result {
                switch layout {
                case .huggingFace:
                    let directory = try HuggingFaceVocabulary.write(from: openCLIPVocabulary)
                    return try CLIPTokenizer(
                        vocabularyJSON: directory.appendingPathComponent("vocab.json"),
                        merges: directory.appendingPathComponent("merges.txt"))
                case .openCLIP:
                    return try CLIPTokenizer(openCLIPVocabulary: openCLIPVocabulary)
                }
            }
        }
        return loaded
    }()

    struct MissingVocabulary: Error, CustomStringConvertible {
        let layout: Layout
        let underlying: Error
        var description: String {
            "CLIP's vocabulary (\(layout.rawValue)) could not be loaded from \(openCLIPVocabulary.path), "
                + "the CLIP module's resource: \(underlying)"
        }
    }

    static func tokenizer(_ layout: Layout) throws -> CLIPTokenizer {
        switch tokenizers[layout]! {
        case .success(let tokenizer): return tokenizer
        case .failure(let error): throw MissingVocabulary(layout: layout, underlying: error)
        }
    }

    /// One saved answer of Tools/make_tokenizer_answers.py.
    struct Answer: Decodable, Sendable, CustomTestStringConvertible {
        let group: String
        let text: String
        let ids: [Int]
        let truncated: Bool
        let length: Int
        let tokens: [String]
        let decoded: String
        let reference: String
        let transformersIDs: [Int]?
        let openCLIPIDs: [Int]?
        let note: String?

        enum CodingKeys: String, CodingKey {
            case group, text, ids, truncated, length, tokens, decoded, reference, note
            case transformersIDs = "transformers_ids"
            case openCLIPIDs = "open_clip_ids"
        }

        var testDescription: String { "\(group): \(text.debugDescription)" }
    }

    struct AnswerFile: Decodable {
        struct Header: Decodable {
            let contextLength: Int
            let startOfText: Int
            let endOfText: Int
            enum CodingKeys: String, CodingKey {
                case contextLength = "context_length", startOfText = "start_of_text", endOfText = "end_of_text"
            }
        }
        let header: Header
        let cases: [Answer]
    }

    static let answerFile = directory.appendingPathComponent("clip_answers.json")

    static func loadAnswers() throws -> AnswerFile {
        try JSONDecoder().decode(AnswerFile.self, from: Data(contentsOf: answerFile))
    }

    /// The saved answers, or none if the file cannot be read (a separate test then fails).
    static let answers: [Answer] = (try? loadAnswers().cases) ?? []
}

/// CLIP's vocabulary in Hugging Face's layout (`vocab.json` + `merges.txt`), written from the
/// open_clip file as transformers' CLIP files are laid out: ids 0-255 the byte characters in
/// GPT-2's order, 256-511 the same with `</w>`, then one per merge (its two symbols joined),
/// then start and end of text. Written independently of the tokenizer's own reader (its byte
/// table included) so that the Hugging Face reader is checked against another construction.
enum HuggingFaceVocabulary {
    /// GPT-2's printable-byte map: printable Latin-1 bytes stand for themselves, the others
    /// are moved to 256 + n in byte order.
    static func byteCharacters() -> [String] {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var next = 0
        for byte in 0..<256 where !printable.contains(byte) {
            codes.append(256 + next)
            next += 1
        }
        return codes.map { String(UnicodeScalar(UInt32($0))!) }
    }

    /// Writes both files into a new temporary folder and returns it.
    static func write(from gzip: URL) throws -> URL {
        let inflated = try Process.gunzip(gzip)
        let lines = inflated.split(separator: "\n", omittingEmptySubsequences: false)
        // open_clip reads lines 1 ..< 49152 - 256 - 2 + 1 (the first is a version header).
        let merges = lines[1..<(49152 - 256 - 2 + 1)].map(String.init)
        let bytes = byteCharacters()
        var tokens = bytes + bytes.map { $0 + "</w>" }
        tokens += merges.map { $0.split(separator: " ").joined() }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        var ids: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { ids[token] = id }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clip-vocab-hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: ids).write(to: directory.appendingPathComponent("vocab.json"))
        try Data((["#version: 0.2"] + merges).joined(separator: "\n").utf8 + [0x0A])
            .write(to: directory.appendingPathComponent("merges.txt"))
        return directory
    }
}

extension Process {
    /// The text of a gzip file, inflated by the system's gzip (not by the code under test).
    static func gunzip(_ file: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc", file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileReadCorruptFile) }
        return String(decoding: data, as: UTF8.self)
    }
}
