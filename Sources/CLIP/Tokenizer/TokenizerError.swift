import Formats
import Foundation

/// Everything that can go wrong when loading a CLIP vocabulary or tokenizing text.
public enum TokenizerError: Error, Equatable, LocalizedError, CustomStringConvertible {
    /// The model directory does not exist (or is not a directory).
    case noDirectory(URL)
    /// The vocabulary has more tokens than the checkpoint's token embedding has rows.
    case vocabularyLargerThanModel(directory: URL, tokens: Int, rows: Int)
    /// A vocabulary file does not exist.
    case missingFile(URL)
    /// A vocabulary file is there but is no regular file (a FIFO, a device, a folder).
    case notAFile(URL, kind: FileKind)
    /// A vocabulary file exists but could not be read.
    case unreadableFile(URL, reason: String)
    /// `vocab.json` is not a JSON object of token strings to integer ids.
    case malformedVocabulary(URL, reason: String)
    /// A line of a merges file is not two space-separated symbols, or names symbols the vocabulary lacks.
    case malformedMerges(URL, line: Int, reason: String)
    /// The `.gz` file is not a gzip stream zlib can inflate.
    case badGzip(URL, reason: String)
    /// The vocabulary lacks a token the tokenizer needs (a special token or a byte symbol).
    case missingToken(URL, token: String)
    /// The text needs more places than the context has and truncation was not asked for.
    case textTooLong(text: String, tokenCount: Int, contextLength: Int)
    /// The context cannot hold the start and end of text tokens.
    case invalidContextLength(Int)

    public var description: String {
        switch self {
        case .noDirectory(let directory):
            return "The model directory \(directory.path) does not exist or is not a directory. Point to the CLIP "
                + "checkpoint's directory (its vocabulary: vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz; "
                + "without either, CLIP's own vocabulary is used)."
        case .vocabularyLargerThanModel(let directory, let tokens, let rows):
            return "The vocabulary used for \(directory.path) has \(tokens) tokens but the checkpoint's token embedding "
                + "has \(rows) rows. Put the checkpoint's own vocabulary (vocab.json + merges.txt, or "
                + "bpe_simple_vocab_16e6.txt.gz) in the directory."
        case .missingFile(let url):
            return "Vocabulary file \(url.path) does not exist. Check the path, or use the model directory "
                + "that holds vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz."
        case .notAFile(let url, let kind):
            return "Vocabulary file \(url.path) is \(kind), not a regular file; nothing was read from it. Put the checkpoint's own "
                + "vocabulary file there, or remove it (without vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz, CLIP's own vocabulary is used)."
        case .unreadableFile(let url, let reason):
            return "Cannot read vocabulary file \(url.path): \(reason). Check its permissions."
        case .malformedVocabulary(let url, let reason):
            return "Vocabulary file \(url.path) is malformed: \(reason). It must be a JSON object mapping "
                + "token strings to integer ids, as written beside Hugging Face CLIP checkpoints; replace the file."
        case .malformedMerges(let url, let line, let reason):
            return "Merges file \(url.path), line \(line): \(reason). Each line must be two symbols separated "
                + "by a space, made of vocabulary tokens; replace the file with the one of the checkpoint."
        case .badGzip(let url, let reason):
            return "Cannot inflate \(url.path): \(reason). It must be the gzip-compressed BPE merges file "
                + "open_clip ships (bpe_simple_vocab_16e6.txt.gz); replace it with an intact copy."
        case .missingToken(let url, let token):
            return "Vocabulary \(url.path) has no token \(token.debugDescription), which CLIP's tokenizer needs; "
                + "use the vocabulary that belongs to the checkpoint."
        case .textTooLong(let text, let tokenCount, let contextLength):
            return "The text \(text.debugDescription) is \(tokenCount) tokens long with the start and end of "
                + "text tokens, more than the context length \(contextLength). Shorten it, or ask for "
                + "truncation (truncate: true, --truncate) to keep the first \(contextLength - 1) tokens and end of text."
        case .invalidContextLength(let length):
            return "Context length \(length) cannot hold the start and end of text tokens; use at least 2 (CLIP uses 77)."
        }
    }

    public var errorDescription: String? { description }
}
