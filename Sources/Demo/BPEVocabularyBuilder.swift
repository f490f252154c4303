// Learning a small byte-level BPE vocabulary in CLIP's layout, so that the demo needs no
// vocabulary file from outside. The learning rule is plain BPE (Sennrich et al. 2016, as in
// OpenAI CLIP's and open_clip's merges files): every word starts as its UTF-8 bytes written in
// the byte-to-unicode characters, the last one marked with `</w>`, and the most frequent
// adjacent pair is merged, again and again. Tools/make_tiny_clip.py (`learn_merges`,
// `build_vocab`) learns the test fixtures' vocabulary the same way.

import CLIP
import Foundation

/// A byte-level BPE vocabulary in CLIP's layout (open_clip `SimpleTokenizer.__init__`):
/// ids 0..<256 the byte characters in `bytes_to_unicode` order, 256..<512 the same with
/// `</w>`, then one token per merge in rank order, then `<|startoftext|>` and `<|endoftext|>`.
public struct BPEVocabulary: Sendable, Equatable {
    /// One merge rule: two adjacent symbols that become one.
    public struct Merge: Sendable, Hashable {
        public var left: String
        public var right: String

        public init(left: String, right: String) {
            self.left = left
            self.right = right
        }
    }

    public static let startOfTextToken = "<|startoftext|>"
    public static let endOfTextToken = "<|endoftext|>"

    /// The merges in rank order (earlier merges apply first).
    public var merges: [Merge]
    /// The token string of each id.
    public var tokens: [String]

    /// Builds CLIP's token list from merges; a merge whose result is already a token (two
    /// segmentations of the same text) adds no second entry, since vocab.json maps each string once.
    public init(merges: [Merge]) {
        self.merges = merges
        let characters = ByteToUnicode.tableOrder.map { ByteToUnicode.strings[Int($0)] }
        var tokens = characters + characters.map { $0 + "</w>" }
        var seen = Set(tokens)
        for merge in merges where seen.insert(merge.left + merge.right).inserted {
            tokens.append(merge.left + merge.right)
        }
        self.tokens = tokens + [Self.startOfTextToken, Self.endOfTextToken]
    }

    /// `vocab.json` as transformers writes it: one object, token -> id, in id order.
    public func vocabularyJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding a String cannot fail.
        let entries = tokens.enumerated().map { id, token in
            String(decoding: try! encoder.encode(token), as: UTF8.self) + ": \(id)"
        }
        return Data(("{" + entries.joined(separator: ", ") + "}\n").utf8)
    }

    /// `merges.txt`: the `#version: 0.2` header line, then `left right` per merge in rank order.
    public func mergesText() -> String {
        (["#version: 0.2"] + merges.map { "\($0.left) \($0.right)" }).joined(separator: "\n") + "\n"
    }

    /// Writes `vocab.json` and `merges.txt` (Hugging Face layout) into `directory`.
    public func write(to directory: URL) throws {
        try DemoFiles.write(vocabularyJSON(), to: directory.appendingPathComponent("vocab.json"))
        try DemoFiles.write(Data(mergesText().utf8), to: directory.appendingPathComponent("merges.txt"))
    }
}

public enum BPEVocabularyBuilder {
    /// Learns merges from `wordCounts` (word -> number of occurrences) until every word is a
    /// single symbol or `maximumMerges` merges are made.
    ///
    /// Words must be pieces as CLIP's pre-tokenizer cuts them (lower case, a run of letters or
    /// of punctuation), or the tokenizer will never meet them whole. Each round counts the
    /// adjacent pairs weighted by word count and merges the most frequent; ties go to the pair
    /// that sorts first by Unicode scalar values (left symbol, then right), as Python's
    /// `min(..., key=(-count, pair))` in Tools/make_tiny_clip.py does, so the result depends
    /// only on the counts, not on dictionary order.
    public static func learn(wordCounts: [String: Int], maximumMerges: Int = .max) -> BPEVocabulary {
        var words: [(symbols: [String], count: Int)] = wordCounts.keys.sorted().compactMap { word in
            guard let count = wordCounts[word], count > 0, !word.isEmpty else { return nil }
            var symbols = word.utf8.map { ByteToUnicode.strings[Int($0)] }
            symbols[symbols.count - 1] += "</w>"
            return (symbols, count)
        }
        var merges: [BPEVocabulary.Merge] = []
        while merges.count < maximumMerges {
            var pairCounts: [BPEVocabulary.Merge: Int] = [:]
            for word in words where word.symbols.count > 1 {
                for i in 0..<(word.symbols.count - 1) {
                    pairCounts[BPEVocabulary.Merge(left: word.symbols[i], right: word.symbols[i + 1]), default: 0] += word.count
                }
            }
            guard let best = pairCounts.min(by: { a, b in
                a.value != b.value ? a.value > b.value : precedes(a.key, b.key)
            })?.key else { break }
            merges.append(best)
            for w in words.indices {
                words[w].symbols = apply(best, to: words[w].symbols)
            }
        }
        return BPEVocabulary(merges: merges)
    }

    /// Merges every occurrence of the pair, left to right (open_clip `SimpleTokenizer.bpe`).
    static func apply(_ merge: BPEVocabulary.Merge, to symbols: [String]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(symbols.count)
        var i = 0
        while i < symbols.count {
            if i + 1 < symbols.count && symbols[i] == merge.left && symbols[i + 1] == merge.right {
                out.append(merge.left + merge.right)
                i += 2
            } else {
                out.append(symbols[i])
                i += 1
            }
        }
        return out
    }

    /// Python's ordering of (left, right) string pairs: code point by code point.
    private static func precedes(_ a: BPEVocabulary.Merge, _ b: BPEVocabulary.Merge) -> Bool {
        func less(_ x: String, _ y: String) -> Bool {
            x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) { $0.value < $1.value }
        }
        return less(a.left, b.left) || (!less(b.left, a.left) && less(a.right, b.right))
    }
}
