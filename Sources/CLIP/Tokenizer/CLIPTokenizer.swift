import Foundation

/// CLIP's byte-level BPE tokenizer: the stages of this folder joined in one place.
///
/// text -> CLIPNormalizer (ftfy subset, HTML unescape, whitespace, lower case)
///      -> CLIPPreTokenizer (CLIP's split pattern) -> BytePairEncoder (merges, `</w>`)
///      -> CLIPPostProcessor (start/end of text, context length); CLIPDecoder goes back.
///
/// It gives the ids of open_clip's `SimpleTokenizer` (what CoOp and LAMM prompts
/// go through) for the texts in Tests/Fixtures/tokenizer/clip_answers.json, and
/// matches literal `<|startoftext|>` and `<|endoftext|>` in the text as special
/// tokens, as OpenAI CLIP and transformers do (open_clip 3 renamed its own).
///
/// Known gaps: ftfy's mojibake repair (see `TextFixer`), and characters assigned
/// in Unicode versions newer than this Swift runtime's tables (Python's `regex`
/// module knows Unicode 17 letters the runtime still calls unassigned, which
/// then count as symbols; see `CLIPPreTokenizer.kind(of:)`).
public struct CLIPTokenizer: Sendable {
    public let startOfText: Int
    public let endOfText: Int

    private let normalizer = CLIPNormalizer()
    private let preTokenizer: CLIPPreTokenizer
    private let encoder: BytePairEncoder
    private let postProcessor: CLIPPostProcessor
    private let decoder: CLIPDecoder

    /// Number of ids (rows of the token embedding table).
    public var vocabularySize: Int { decoder.tokens.count }

    /// Loads `vocab.json` + `merges.txt` (Hugging Face layout) if the directory has
    /// them, otherwise its `bpe_simple_vocab_16e6.txt.gz` (open_clip layout), otherwise
    /// CLIP's own vocabulary, which lamm-store ships (`defaultVocabulary`), as open_clip
    /// falls back to the copy in its package. A directory with only one of the two
    /// Hugging Face files is an error naming the missing one.
    public init(directory: URL) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerError.noDirectory(directory)
        }
        let vocabularyJSON = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        let gzip = directory.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz")
        if fileManager.fileExists(atPath: vocabularyJSON.path) || fileManager.fileExists(atPath: merges.path) {
            try self.init(vocabularyJSON: vocabularyJSON, merges: merges)
        } else if fileManager.fileExists(atPath: gzip.path) {
            try self.init(openCLIPVocabulary: gzip)
        } else {
            try self.init(openCLIPVocabulary: Self.defaultVocabulary)
        }
    }

    /// The tokenizer of a checkpoint whose token embedding has `tokenEmbeddingRows` rows:
    /// a vocabulary with more tokens than that (CLIP's default beside a checkpoint of its
    /// own smaller vocabulary, say) would give ids the text tower cannot look up.
    public init(directory: URL, tokenEmbeddingRows: Int) throws {
        try self.init(directory: directory)
        guard vocabularySize <= tokenEmbeddingRows else {
            throw TokenizerError.vocabularyLargerThanModel(directory: directory, tokens: vocabularySize, rows: tokenEmbeddingRows)
        }
    }

    /// CLIP's BPE vocabulary (`bpe_simple_vocab_16e6.txt.gz`, 49,408 tokens; MIT licence,
    /// OpenAI, see Resources/LICENSE-CLIP), a resource of this module: the vocabulary of
    /// every released CLIP and open_clip text tower.
    public static var defaultVocabulary: URL {
        Bundle.module.url(forResource: "bpe_simple_vocab_16e6.txt", withExtension: "gz")!
    }

    /// The tokenizer of CLIP's own vocabulary (`defaultVocabulary`).
    public static func clip() throws -> CLIPTokenizer {
        try CLIPTokenizer(openCLIPVocabulary: defaultVocabulary)
    }

    /// Hugging Face layout: `vocab.json` (token -> id) and `merges.txt` (`#version` header, merges in rank order).
    public init(vocabularyJSON: URL, merges: URL) throws {
        try self.init(vocabulary: Vocabulary.huggingFace(vocabularyJSON: vocabularyJSON, merges: merges))
    }

    /// open_clip layout: the gzip-compressed merges file; the vocabulary is built from it
    /// (see `Vocabulary.openCLIP`), so a file with fewer merges gives a smaller vocabulary.
    public init(openCLIPVocabulary gzip: URL) throws {
        try self.init(vocabulary: Vocabulary.openCLIP(gzip: gzip))
    }

    init(vocabulary: Vocabulary) throws {
        func id(of token: String) throws -> Int32 {
            guard let id = vocabulary.ids[token] else {
                throw TokenizerError.missingToken(vocabulary.vocabularyFile, token: token)
            }
            return Int32(id)
        }
        let startOfText = try Int(id(of: Vocabulary.startOfTextToken))
        let endOfText = try Int(id(of: Vocabulary.endOfTextToken))
        let byteSymbol = try ByteToUnicode.strings.map { try id(of: $0) }
        let finalByteSymbol = try ByteToUnicode.strings.map { try id(of: $0 + "</w>") }

        var ranks = MergeRanks()
        for (rank, merge) in vocabulary.merges.enumerated() {
            guard let left = vocabulary.ids[merge.left], let right = vocabulary.ids[merge.right],
                  let merged = vocabulary.ids[merge.left + merge.right]
            else {
                let missing = [merge.left, merge.right, merge.left + merge.right].first { vocabulary.ids[$0] == nil }!
                throw TokenizerError.malformedMerges(
                    vocabulary.mergesFile, line: merge.line,
                    reason: "the symbol \(missing.debugDescription) is not in the vocabulary")
            }
            ranks.add(BytePair(left: Int32(left), right: Int32(right)), merged: Int32(merged), rank: Int32(rank))
        }

        self.startOfText = startOfText
        self.endOfText = endOfText
        preTokenizer = CLIPPreTokenizer(specialTokens: [
            (Vocabulary.startOfTextToken, startOfText), (Vocabulary.endOfTextToken, endOfText),
        ])
        encoder = BytePairEncoder(ranks: ranks, byteSymbol: byteSymbol, finalByteSymbol: finalByteSymbol)
        postProcessor = CLIPPostProcessor(startOfText: startOfText, endOfText: endOfText)
        decoder = CLIPDecoder(tokens: vocabulary.tokens)
    }

    /// BPE ids of `text`, without start and end of text.
    public func encode(_ text: String) -> [Int] {
        let scalars = normalizer(text)
        var ids: [Int] = []
        for piece in preTokenizer(scalars) {
            switch piece {
            case .special(let id):
                ids.append(id)
            case .word(let range):
                ids += encoder.encode(String(String.UnicodeScalarView(scalars[range])))
            }
        }
        return ids
    }

    /// Start of text, the ids of `text`, end of text; not padded. A text that needs more
    /// than `contextLength` places throws `TokenizerError.textTooLong` unless `truncate`
    /// is set, which keeps the first `contextLength - 1` places and ends with end of text.
    public func tokenize(_ text: String, contextLength: Int = 77, truncate: Bool = false) throws -> [Int] {
        try postProcessor(encode(text), text: text, contextLength: contextLength, truncate: truncate)
    }

    /// The text of `ids`, each `</w>` read as a space (special tokens appear as written).
    public func decode(_ ids: [Int]) -> String {
        decoder.decode(ids)
    }

    /// The vocabulary string of each id, for display (`a</w>`, `<|startoftext|>`).
    public func tokenStrings(_ ids: [Int]) -> [String] {
        decoder.tokenStrings(ids)
    }
}
