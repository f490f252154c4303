import Foundation
import Testing
@testable import CLIP

/// Parity with the reference tokenizers (Tools/make_tokenizer_answers.py), for both
/// layouts of CLIP's real vocabulary.
@Suite struct TokenizerTests {
    typealias Layout = TokenizerFixtures.Layout
    typealias Answer = TokenizerFixtures.Answer

    @Test func savedAnswersAreThere() throws {
        let file = try TokenizerFixtures.loadAnswers()
        #expect(file.cases.count >= 2_100, "expected 1,000 class names, 1,000 prompts and the edge cases")
        #expect(file.header.contextLength == 77)
        for layout in Layout.allCases {
            let tokenizer = try TokenizerFixtures.tokenizer(layout)
            #expect(tokenizer.startOfText == file.header.startOfText)
            #expect(tokenizer.endOfText == file.header.endOfText)
            #expect(tokenizer.vocabularySize == 49_408)
        }
    }

    /// Every saved answer, for both layouts. The ids are open_clip's; where transformers'
    /// CLIPTokenizer disagrees (no ftfy or HTML unescape there) the fixture keeps its ids as
    /// `transformers_ids` and open_clip's are the ones checked. Cases holding a literal
    /// special token follow transformers (`reference`), since open_clip 3 no longer knows
    /// the `<|...|>` names.
    @Test(arguments: Layout.allCases, TokenizerFixtures.answers)
    func matchesReference(layout: Layout, answer: Answer) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(layout)
        let ids = try tokenizer.tokenize(answer.text, truncate: true)
        #expect(ids == answer.ids)
        #expect(tokenizer.encode(answer.text).count + 2 == answer.length)
        #expect(tokenizer.tokenStrings(answer.ids) == answer.tokens)
        #expect(tokenizer.decode(Array(answer.ids.dropFirst().dropLast())) == answer.decoded)
        if answer.truncated {
            #expect(throws: TokenizerError.textTooLong(text: answer.text, tokenCount: answer.length, contextLength: 77)) {
                try tokenizer.tokenize(answer.text)
            }
        } else {
            #expect(try tokenizer.tokenize(answer.text) == answer.ids)
        }
    }

    // MARK: Vocabulary files

    /// open_clip's layout with fewer merges: the vocabulary is built the same way and
    /// start/end of text come after the merges (tiny_answers.json from open_clip).
    @Test func smallerOpenCLIPVocabularyMatchesOpenCLIP() throws {
        struct TinyAnswers: Decodable {
            struct Header: Decodable {
                let vocabulary_size: Int, start_of_text: Int, end_of_text: Int
            }
            struct Case: Decodable { let text: String, ids: [Int] }
            let header: Header
            let cases: [Case]
        }
        let answers = try JSONDecoder().decode(
            TinyAnswers.self, from: Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny_answers.json")))
        let tokenizer = try CLIPTokenizer(
            openCLIPVocabulary: TokenizerFixtures.directory.appendingPathComponent("tiny_vocab.txt.gz"))
        #expect(tokenizer.vocabularySize == answers.header.vocabulary_size)
        #expect(tokenizer.startOfText == answers.header.start_of_text)
        #expect(tokenizer.endOfText == answers.header.end_of_text)
        for answer in answers.cases {
            #expect(try tokenizer.tokenize(answer.text) == answer.ids, "\(answer.text.debugDescription)")
        }
    }

    /// Start and end of text are looked up by name, wherever the vocabulary puts them.
    @Test func specialTokensComeFromTheVocabulary() throws {
        let directory = try temporaryDirectory()
        try writeSmallHuggingFaceVocabulary(in: directory, specialTokensFirst: true)
        let tokenizer = try CLIPTokenizer(directory: directory)
        #expect(tokenizer.startOfText == 0)
        #expect(tokenizer.endOfText == 1)
        let hi = try #require(tokenizer.tokenStrings(Array(0..<tokenizer.vocabularySize)).firstIndex(of: "hi</w>"))
        #expect(try tokenizer.tokenize("Hi") == [0, hi, 1])
        #expect(try tokenizer.tokenize("") == [0, 1])
        #expect(try tokenizer.tokenize("hi <|endoftext|>") == [0, hi, 1, 1])
    }

    @Test func directoryPrefersHuggingFaceLayout() throws {
        let directory = try temporaryDirectory()
        let gzip = directory.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz")
        try FileManager.default.copyItem(at: TokenizerFixtures.directory.appendingPathComponent("tiny_vocab.txt.gz"), to: gzip)
        #expect(try CLIPTokenizer(directory: directory).vocabularySize == 815)
        try writeSmallHuggingFaceVocabulary(in: directory, specialTokensFirst: false)
        #expect(try CLIPTokenizer(directory: directory).vocabularySize == 515)
    }

    // MARK: Context length

    @Test func longTextWithoutTruncationThrowsNamingTextAndCount() throws {
        let tokenizer = try TokenizerFixtures.tokenizer(.huggingFace)
        let text = Array(repeating: "word", count: 76).joined(separator: " ")
        #expect(throws: TokenizerError.textTooLong(text: text, tokenCount: 78, contextLength: 77)) {
            try tokenizer.tokenize(text)
        }
        let message = TokenizerError.textTooLong(text: text, tokenCount: 78, contextLength: 77).description
        #expect(message.contains(text) && message.contains("78") && message.contains("truncat"))
        let fitting = Array(repeating: "word", count: 75).joined(separator: " ")
        #expect(try tokenizer.tokenize(fitting).count == 77)
    }

    @Test func truncationKeepsTheFirstIDsAndEndsWithEndOfText() throws {
        let tokenizer = try TokenizerFixtures.tokenizer(.huggingFace)
        let ids = try tokenizer.tokenize("a photo of a dog.", contextLength: 4, truncate: true)
        #expect(ids == [tokenizer.startOfText, 320, 1125, tokenizer.endOfText])
        #expect(throws: TokenizerError.invalidContextLength(1)) {
            try tokenizer.tokenize("a", contextLength: 1, truncate: true)
        }
    }

    // MARK: Decoding

    @Test func decodeRoundTrip() throws {
        let tokenizer = try TokenizerFixtures.tokenizer(.openCLIP)
        let ids = try tokenizer.tokenize("Hello, World! café 日本 😀")
        #expect(tokenizer.decode(ids) == "<|startoftext|>hello , world ! café 日本 😀 <|endoftext|>")
        #expect(tokenizer.tokenStrings([49406, 320, 49407]) == ["<|startoftext|>", "a</w>", "<|endoftext|>"])
        #expect(tokenizer.tokenStrings([-1, 49_408]) == ["\u{FFFD}", "\u{FFFD}"])
    }

    /// Byte tokens that do not form UTF-8 decode to U+FFFD as Python's `errors="replace"`
    /// does (answers of open_clip's `decode`), one per maximal invalid part.
    @Test(arguments: [
        ([162, 245], "\u{FFFD}"),                 // e6 97: 日 without its last byte
        ([187], "\u{FFFD}"),                      // ff
        ([222, 32], "\u{FFFD}A"),                 // 80 41
        ([169, 254, 222], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // ed a0 80: an encoded surrogate
        ([172, 253, 246], "\u{FFFD}"),            // f0 9f 98: 😀 without its last byte
        ([162, 245, 98], "日"),
    ])
    func decodeReplacesInvalidUTF8(ids: [Int], expected: String) throws {
        for layout in Layout.allCases {
            #expect(try TokenizerFixtures.tokenizer(layout).decode(ids) == expected)
        }
    }

    /// The word cache is shared between threads: four threads fill an empty cache at once, each
    /// in another order, and agree with a tokenizer of its own that no other thread touched.
    @Test func concurrentTokenizingAgrees() async throws {
        let reference = try TokenizerFixtures.tokenizer(.openCLIP)
        // A tokenizer of its own, whose cache no other test has filled.
        let tokenizer = try CLIPTokenizer(openCLIPVocabulary: TokenizerFixtures.openCLIPVocabulary)
        let texts = TokenizerFixtures.answers.prefix(300).map(\.text)
        let expected = texts.map { reference.encode($0) }
        let results = await withTaskGroup(of: [[Int]].self) { group in
            for k in 0..<4 {
                group.addTask {
                    // Rotated, so that the threads write different words into the cache at once.
                    let start = k * texts.count / 4
                    let order = Array(texts.indices[start...]) + Array(texts.indices[..<start])
                    var encoded = [[Int]](repeating: [], count: texts.count)
                    for i in order { encoded[i] = tokenizer.encode(texts[i]) }
                    return encoded
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 4)
        for result in results { #expect(result == expected) }
    }

    // MARK: Loading errors

    /// A checkpoint folder without vocabulary files gets CLIP's own, as in open_clip.
    @Test func emptyDirectoryUsesCLIPsVocabulary() throws {
        let directory = try temporaryDirectory()
        let tokenizer = try CLIPTokenizer(directory: directory)
        #expect(tokenizer.vocabularySize == 49408)
        #expect(try tokenizer.tokenize("a photo of a dog.") == [49406, 320, 1125, 539, 320, 1929, 269, 49407])
        #expect(throws: TokenizerError.vocabularyLargerThanModel(directory: directory, tokens: 49408, rows: 40)) {
            try CLIPTokenizer(directory: directory, tokenEmbeddingRows: 40)
        }
        #expect(try CLIPTokenizer(directory: directory, tokenEmbeddingRows: 49408).vocabularySize == 49408)
    }

    @Test func missingDirectoryIsNamed() throws {
        let directory = try temporaryDirectory().appendingPathComponent("no-such-model")
        #expect(throws: TokenizerError.noDirectory(directory)) { try CLIPTokenizer(directory: directory) }
        #expect(TokenizerError.noDirectory(directory).description.contains(directory.path))
    }

    @Test func missingFilesAreNamed() throws {
        let directory = try temporaryDirectory()
        let vocabulary = directory.appendingPathComponent("vocab.json")
        try Data("{}".utf8).write(to: vocabulary)
        let merges = directory.appendingPathComponent("merges.txt")
        #expect(throws: TokenizerError.missingFile(merges)) { try CLIPTokenizer(directory: directory) }
        let gzip = directory.appendingPathComponent("none.txt.gz")
        #expect(throws: TokenizerError.missingFile(gzip)) { try CLIPTokenizer(openCLIPVocabulary: gzip) }
        #expect(TokenizerError.missingFile(gzip).description.contains(gzip.path))
    }

    @Test(arguments: ["not json", "[1, 2]", #"{"a": "x"}"#, #"{"a": 1.5}"#, #"{"a": -3}"#])
    func malformedVocabularyJSON(contents: String) throws {
        let directory = try temporaryDirectory()
        let vocabulary = directory.appendingPathComponent("vocab.json")
        try Data(contents.utf8).write(to: vocabulary)
        try Data("#version: 0.2\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
        let error = try #require(throws: TokenizerError.self) { try CLIPTokenizer(directory: directory) }
        guard case .malformedVocabulary(let file, _) = error else {
            Issue.record("expected malformedVocabulary, got \(error)")
            return
        }
        #expect(file == vocabulary)
        #expect(error.description.contains(vocabulary.path))
    }

    @Test func malformedMergeLineIsNamed() throws {
        let directory = try temporaryDirectory()
        try writeSmallHuggingFaceVocabulary(in: directory, specialTokensFirst: true)
        let merges = directory.appendingPathComponent("merges.txt")
        try Data("#version: 0.2\nh i</w>\nh i j\n".utf8).write(to: merges)
        #expect(throws: TokenizerError.malformedMerges(merges, line: 3, reason: "expected two symbols, found 3")) {
            try CLIPTokenizer(directory: directory)
        }
        try Data("#version: 0.2\nh i</w>\nq zz\n".utf8).write(to: merges)
        let error = try #require(throws: TokenizerError.self) { try CLIPTokenizer(directory: directory) }
        guard case .malformedMerges(merges, line: 3, let reason) = error else {
            Issue.record("expected malformedMerges at line 3, got \(error)")
            return
        }
        #expect(reason.contains("zz"))
    }

    @Test func vocabularyWithoutSpecialTokensIsRefused() throws {
        let directory = try temporaryDirectory()
        let vocabulary = directory.appendingPathComponent("vocab.json")
        let tokens = ByteToUnicode.strings + ByteToUnicode.strings.map { $0 + "</w>" }
        let ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        try JSONSerialization.data(withJSONObject: ids).write(to: vocabulary)
        try Data("#version: 0.2\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
        #expect(throws: TokenizerError.missingToken(vocabulary, token: "<|startoftext|>")) {
            try CLIPTokenizer(directory: directory)
        }
    }

    @Test func badGzipIsRefused() throws {
        let directory = try temporaryDirectory()
        let garbage = directory.appendingPathComponent("garbage.txt.gz")
        try Data("this is not gzip data".utf8).write(to: garbage)
        let truncated = directory.appendingPathComponent("truncated.txt.gz")
        let tiny = try Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny_vocab.txt.gz"))
        try tiny.prefix(tiny.count / 2).write(to: truncated)
        let empty = directory.appendingPathComponent("empty.txt.gz")
        try Data().write(to: empty)
        for file in [garbage, truncated, empty] {
            let error = try #require(throws: TokenizerError.self) { try CLIPTokenizer(openCLIPVocabulary: file) }
            guard case .badGzip(file, _) = error else {
                Issue.record("expected badGzip for \(file.lastPathComponent), got \(error)")
                continue
            }
            #expect(error.description.contains(file.path))
        }
    }

    // MARK: Helpers

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A 515-token vocabulary in Hugging Face's layout: the byte characters, the same
    /// with `</w>`, one merge (`h i</w>` -> `hi</w>`) and the two special tokens,
    /// the special tokens placed first or last.
    private func writeSmallHuggingFaceVocabulary(in directory: URL, specialTokensFirst: Bool) throws {
        let special = ["<|startoftext|>", "<|endoftext|>"]
        let body = ByteToUnicode.strings + ByteToUnicode.strings.map { $0 + "</w>" } + ["hi</w>"]
        let tokens = specialTokensFirst ? special + body : body + special
        let ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        try JSONSerialization.data(withJSONObject: ids).write(to: directory.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\nh i</w>\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
    }
}
