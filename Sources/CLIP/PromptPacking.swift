// How a batch of prompts is laid out as packed rows for the text tower.
//
// Every linear layer runs as one sgemm over all packed rows, so rows of all prompts sit in one
// [T, W] matrix and each prompt contributes only its positions up to its EOT token.
// Frozen leading tokens that several prompts share (SOT a photo of a) are stored once: the
// leading frozen runs form a trie, and each maximal chain of trie nodes walked by the same
// prompts becomes one attention segment. Rows from a prompt's first trainable vector onward
// (its "tail") come after all frozen rows, so that backward runs on the tail rows only:
// frozen rows cannot depend on a trainable vector (causal attention).

import Kernels

/// One input row of a prompt: a token id looked up in the token embedding, or row `index`
/// of the caller's matrix of trainable vectors (label tokens, context vectors).
public enum PromptRow: Hashable, Sendable {
    case token(Int)
    case vector(index: Int)
}

/// A prompt as a sequence of input rows, from SOT up to and including EOT; the text feature
/// is read at the last row.
public struct PromptRows: Hashable, Sendable {
    public var rows: [PromptRow]

    public init(_ rows: [PromptRow]) { self.rows = rows }

    public init(tokenIDs: [Int]) { rows = tokenIDs.map { .token($0) } }

    /// Whether any row is a trainable vector.
    public var isTrainable: Bool { rows.contains { if case .vector = $0 { true } else { false } } }
}

struct PromptPacking: Sendable {
    /// Input row of each packed row, and its position (index of the positional embedding).
    var rows: [PromptRow] = []
    var positions: [Int] = []
    var segments: [AttentionSegment] = []
    /// Packed row of each prompt's last (EOT) position.
    var eotRows: [Int] = []
    /// Rows from here on belong to prompts' trainable tails.
    var firstTrainableRow = 0
    /// Floats of attention probabilities per layer.
    var attentionSize = 0

    var rowCount: Int { rows.count }

    init(prompts: [PromptRows], heads: Int) {
        // Trie of the leading frozen tokens; node 0 is the root (no position).
        var children: [[Int: Int]] = [[:]]
        var passing: [Int] = [0]
        var tokenOf: [Int] = [-1]
        var depth: [Int] = [0]
        var endNode = [Int](repeating: 0, count: prompts.count)
        var tailStart = [Int](repeating: 0, count: prompts.count)
        for (p, prompt) in prompts.enumerated() {
            let frozen = prompt.rows.firstIndex { if case .vector = $0 { true } else { false } } ?? prompt.rows.count
            tailStart[p] = frozen
            var node = 0
            for row in prompt.rows[..<frozen] {
                guard case let .token(id) = row else { continue }
                if let next = children[node][id] {
                    node = next
                } else {
                    children.append([:])
                    passing.append(0)
                    tokenOf.append(id)
                    depth.append(depth[node] + 1)
                    children[node][id] = children.count - 1
                    node = children.count - 1
                }
                passing[node] += 1
            }
            endNode[p] = node
        }

        // Chains of nodes walked by the same prompts become segments (depth-first order).
        var nodeRow = [Int](repeating: -1, count: children.count)
        var nodeSegment = [Int](repeating: -1, count: children.count)
        var stack: [(node: Int, parentSegment: Int?)] = children[0].keys.sorted(by: >).map { (children[0][$0]!, nil) }
        while let (first, parentSegment) = stack.popLast() {
            var chain = [first]
            var node = first
            while children[node].count == 1, let only = children[node].values.first, passing[only] == passing[node] {
                chain.append(only)
                node = only
            }
            let prefix = parentSegment.map { segments[$0].keyRows } ?? []
            let start = rows.count
            for n in chain {
                nodeRow[n] = rows.count
                nodeSegment[n] = segments.count
                rows.append(.token(tokenOf[n]))
                positions.append(depth[n] - 1)
            }
            let segmentIndex = segments.count
            segments.append(AttentionSegment(start: start, count: chain.count, prefixRows: prefix, attentionOffset: attentionSize))
            attentionSize += segments[segmentIndex].attentionSize(heads: heads)
            for key in children[node].keys.sorted(by: >) { stack.append((children[node][key]!, segmentIndex)) }
        }

        firstTrainableRow = rows.count
        eotRows = [Int](repeating: 0, count: prompts.count)
        for (p, prompt) in prompts.enumerated() {
            let end = endNode[p]
            guard tailStart[p] < prompt.rows.count else {
                eotRows[p] = nodeRow[end]
                continue
            }
            var prefix: [Int] = []
            if end != 0 {
                let segment = segments[nodeSegment[end]]
                prefix = segment.prefixRows + Array(segment.start...nodeRow[end])
            }
            let start = rows.count
            for (j, row) in prompt.rows[tailStart[p]...].enumerated() {
                rows.append(row)
                positions.append(tailStart[p] + j)
            }
            let segment = AttentionSegment(start: start, count: rows.count - start, prefixRows: prefix, attentionOffset: attentionSize)
            attentionSize += segment.attentionSize(heads: heads)
            segments.append(segment)
            eotRows[p] = rows.count - 1
        }
    }

    /// Multiply-adds x 2 of one layer's attention (q.k and p.v over visible keys), all heads.
    func attentionFLOPs(width: Int, fromRow: Int = 0) -> Double {
        var pairs = 0
        for segment in segments where segment.start >= fromRow {
            // Query j sees prefixRows.count + j + 1 keys.
            pairs += segment.count * segment.prefixRows.count + segment.count * (segment.count + 1) / 2
        }
        return 2 * 2 * Double(pairs) * Double(width)
    }
}
