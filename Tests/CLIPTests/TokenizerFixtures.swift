import Foundation
import Testing
@testable import CLIP

/// Where the tokenizer tests find their files, relative to this source file.
enum TokenizerFixtures {
    /// <package>/Tests/CLIPTests/TokenizerFixtures.swift -> <package>
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer")
    /// CLIP's real vocabulary in both layouts, kept beside the package (<package>/../shared/clip-vocab).
    static let clipVocabulary = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/clip-vocab")

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
                    return try CLIPTokenizer(
                        vocabularyJSON: clipVocabulary.appendingPathComponent("vocab.json"),
                        merges: clipVocabulary.appendingPathComponent("merges.txt"))
                case .openCLIP:
                    return try CLIPTokenizer(
                        openCLIPVocabulary: clipVocabulary.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz"))
                }
            }
        }
        return loaded
    }()

    struct MissingVocabulary: Error, CustomStringConvertible {
        let layout: Layout
        let underlying: Error
        var description: String {
            "CLIP's vocabulary (\(layout.rawValue)) could not be loaded from \(clipVocabulary.path), "
                + "the place the tests look for it (<package>/../shared/clip-vocab): \(underlying)"
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
