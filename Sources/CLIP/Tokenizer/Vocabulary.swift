import Formats
import Foundation

/// A BPE vocabulary as read from disk: token strings by id and the merge rules in order.
struct Vocabulary: Sendable {
    /// Token string of each id (index = id); ids missing from a vocab.json are "".
    var tokens: [String]
    /// Id of each token string.
    var ids: [String: Int]
    /// The merges, in rank order, with the 1-based line each came from (for error messages).
    var merges: [(left: String, right: String, line: Int)]
    /// The file the merges came from.
    var mergesFile: URL
    /// The file the token ids came from (the merges file for open_clip's layout).
    var vocabularyFile: URL

    static let startOfTextToken = "<|startoftext|>"
    static let endOfTextToken = "<|endoftext|>"

    /// open_clip `SimpleTokenizer.__init__`: `merges[1 : 49152-256-2+1]`, i.e. at most
    /// 48,894 merge lines after the header, so the vocabulary holds 49,408 tokens.
    static let openCLIPMergeLimit = 49152 - 256 - 2

    /// Ids above this are refused: the token table has a place for every id up to the largest,
    /// so one corrupt id must not claim gigabytes (or overflow the Int32 ids BPE works in).
    /// 2^24 places are 64 times the largest BPE vocabularies in use (262,144 tokens).
    static let largestID = (1 << 24) - 1

    // MARK: Hugging Face layout

    /// `vocab.json` (token -> id) and `merges.txt` (`#version` header, then `left right` lines).
    static func huggingFace(vocabularyJSON: URL, merges mergesURL: URL) throws -> Vocabulary {
        let json = try read(vocabularyJSON)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw TokenizerError.malformedVocabulary(vocabularyJSON, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let entries = object as? [String: Any] else {
            throw TokenizerError.malformedVocabulary(vocabularyJSON, reason: "the top level is not a JSON object")
        }
        var ids: [String: Int] = [:]
        ids.reserveCapacity(entries.count)
        var largest = -1
        for (token, value) in entries {
            guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                throw TokenizerError.malformedVocabulary(
                    vocabularyJSON, reason: "the id of \(token.debugDescription) is not a non-negative integer")
            }
            guard id <= largestID else {
                throw TokenizerError.malformedVocabulary(
                    vocabularyJSON, reason: "the id \(id) of \(token.debugDescription) is above \(largestID), more than any BPE vocabulary has")
            }
            ids[token] = id
            largest = max(largest, id)
        }
        var tokens = [String](repeating: "", count: largest + 1)
        for (token, id) in ids { tokens[id] = token }

        let text = try readUTF8(mergesURL)
        var merges: [(left: String, right: String, line: Int)] = []
        merges.reserveCapacity(ids.count)
        for (index, line) in lines(text).enumerated() {
            if line.isEmpty || (index == 0 && String(line).hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw TokenizerError.malformedMerges(
                    mergesURL, line: index + 1, reason: "expected two symbols, found \(parts.count)")
            }
            merges.append((String(parts[0]), String(parts[1]), index + 1))
        }
        return Vocabulary(tokens: tokens, ids: ids, merges: merges, mergesFile: mergesURL, vocabularyFile: vocabularyJSON)
    }

    // MARK: open_clip layout

    /// `bpe_simple_vocab_16e6.txt.gz`: a header line, then merges. The vocabulary is
    /// built from them as open_clip does: the 256 byte characters, the same with
    /// `</w>`, each merge's two symbols joined, then start and end of text.
    /// A file with fewer merge lines gives a smaller vocabulary in the same way.
    static func openCLIP(gzip: URL) throws -> Vocabulary {
        let data = try Gzip.inflate(read(gzip), file: gzip)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.badGzip(gzip, reason: "the inflated text is not UTF-8")
        }
        let byteCharacters = ByteToUnicode.tableOrder.map { ByteToUnicode.strings[Int($0)] }
        var tokens = byteCharacters + byteCharacters.map { $0 + "</w>" }
        var merges: [(left: String, right: String, line: Int)] = []
        for (index, line) in lines(text).enumerated().dropFirst() {
            if index > openCLIPMergeLimit { break }
            // Python's str.split() drops surrounding whitespace; an empty line still takes
            // a vocabulary place in open_clip (joined "" symbols), so it does here too.
            let parts = line.split(whereSeparator: CLIPNormalizer.isPythonWhitespace)
            switch parts.count {
            case 0:
                tokens.append("")
            case 2:
                tokens.append(String(parts[0]) + String(parts[1]))
                merges.append((String(parts[0]), String(parts[1]), index + 1))
            default:
                throw TokenizerError.malformedMerges(
                    gzip, line: index + 1, reason: "expected two symbols, found \(parts.count)")
            }
        }
        tokens += [startOfTextToken, endOfTextToken]
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        // A string listed twice keeps its later id (Python's dict(zip(vocab, range(...)))).
        for (id, token) in tokens.enumerated() { ids[token] = id }
        return Vocabulary(tokens: tokens, ids: ids, merges: merges, mergesFile: gzip, vocabularyFile: gzip)
    }

    // MARK: Reading files

    /// Lines split at "\n" scalars (a Swift `Character` would keep "\r\n" together).
    private static func lines(_ text: String) -> [Substring.UnicodeScalarView] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    }

    private static func read(_ url: URL) throws -> Data {
        switch FileKind(path: url.path) {
        case .regular: break
        case .missing: throw TokenizerError.missingFile(url)
        // Opening a FIFO would wait for a writer forever.
        case let kind: throw TokenizerError.notAFile(url, kind: kind)
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(url, reason: error.localizedDescription)
        }
    }

    private static func readUTF8(_ url: URL) throws -> String {
        guard let text = String(data: try read(url), encoding: .utf8) else {
            throw TokenizerError.malformedMerges(url, line: 1, reason: "the file is not UTF-8 text")
        }
        return text
    }
}
