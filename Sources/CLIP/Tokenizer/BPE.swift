import Synchronization

/// Two adjacent symbols, by vocabulary id: the key of the merge table.
struct BytePair: Hashable, Sendable {
    let left: Int32
    let right: Int32
}

/// What merging a pair gives: its priority (lower merges first) and the merged symbol.
struct Merge: Sendable {
    let rank: Int32
    let merged: Int32
}

/// The merge rules of a vocabulary, keyed by symbol ids rather than strings.
///
/// Every symbol BPE can produce (the 256 byte characters, the same with `</w>`,
/// and each merge's result) is a vocabulary entry, so the encoder can work on ids
/// throughout and never build intermediate strings.
struct MergeRanks: Sendable {
    private(set) var table: [BytePair: Merge] = [:]

    /// Merge number `rank` joins `pair`. A pair listed twice keeps the later rank,
    /// as open_clip's `dict(zip(merges, range(len(merges))))` does.
    mutating func add(_ pair: BytePair, merged: Int32, rank: Int32) {
        table[pair] = Merge(rank: rank, merged: merged)
    }

    subscript(pair: BytePair) -> Merge? { table[pair] }
}

/// Byte-pair encoding of one pre-tokenized word (open_clip `SimpleTokenizer.bpe`).
///
/// The word's UTF-8 bytes start as one symbol each, the last one carrying the
/// end-of-word mark `</w>`; then, as long as some adjacent pair has a merge rule,
/// every occurrence of the best-ranked pair is merged, left to right. Results are
/// cached per word, as in the reference, since prompts repeat the same words.
struct BytePairEncoder: Sendable {
    let ranks: MergeRanks
    /// `byteSymbol[b]`: id of the character of byte `b`; `finalByteSymbol[b]`: the same with `</w>`.
    let byteSymbol: [Int32]
    let finalByteSymbol: [Int32]
    private let cache = WordCache()

    init(ranks: MergeRanks, byteSymbol: [Int32], finalByteSymbol: [Int32]) {
        self.ranks = ranks
        self.byteSymbol = byteSymbol
        self.finalByteSymbol = finalByteSymbol
    }

    /// The ids of `word` (a pre-tokenizer piece, as text).
    func encode(_ word: String) -> [Int] {
        if let cached = cache[word] { return cached }
        let ids = merge(Array(word.utf8))
        cache[word] = ids
        return ids
    }

    /// The merge loop, without the cache.
    func merge(_ bytes: [UInt8]) -> [Int] {
        guard let last = bytes.last else { return [] }
        var symbols = bytes.dropLast().map { byteSymbol[Int($0)] }
        symbols.append(finalByteSymbol[Int(last)])
        while symbols.count > 1 {
            var best: (pair: BytePair, merge: Merge)?
            for i in 0..<(symbols.count - 1) {
                let pair = BytePair(left: symbols[i], right: symbols[i + 1])
                if let merge = ranks[pair], merge.rank < best?.merge.rank ?? .max { best = (pair, merge) }
            }
            guard let (pair, merge) = best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == pair.left && symbols[i + 1] == pair.right {
                    merged.append(merge.merged)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        return symbols.map(Int.init)
    }
}

/// The per-word cache of `BytePairEncoder`, shared by copies of the tokenizer and
/// safe to use from several threads. It is emptied when it grows past `capacity`
/// words so that a long-running process tokenizing free text stays bounded.
final class WordCache: Sendable {
    private let storage = Mutex<[String: [Int]]>([:])
    private let capacity = 100_000

    subscript(word: String) -> [Int]? {
        get { storage.withLock { $0[word] } }
        set {
            storage.withLock { words in
                if words.count >= capacity { words.removeAll(keepingCapacity: true) }
                words[word] = newValue
            }
        }
    }
}
