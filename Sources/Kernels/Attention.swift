// Causal multi-head self-attention over packed sequences (llm.c train_gpt2.c
// attention_forward / attention_backward), generalised so that sequences sharing a frozen
// prefix attend to one stored copy of it. Because attention is causal, the prefix's hidden
// states and keys/values do not depend on what follows it, so computing them once is exact.
//
// Rows of all sequences are packed into one [T, ...] matrix. A segment is a contiguous run of
// rows of one sequence (or of a prefix shared by several); it attends to the rows of its
// ancestors (`prefixRows`, in position order) and causally to its own rows.

import Foundation

/// One contiguous run of packed rows and the rows it sees before itself.
public struct AttentionSegment: Sendable, Equatable {
    public var start: Int
    public var count: Int
    /// Packed rows of the positions before this segment, in position order.
    public var prefixRows: [Int]
    /// Offset of this segment's probabilities in the attention buffer: heads * count * keyCount floats.
    public var attentionOffset: Int

    public var keyCount: Int { prefixRows.count + count }

    /// Packed rows of every key this segment's queries may see, in position order.
    public var keyRows: [Int] { prefixRows + Array(start..<(start + count)) }

    /// Keys visible to the segment's query `j` (causal: the prefix and rows up to j).
    public func visibleKeys(query j: Int) -> Int { prefixRows.count + j + 1 }

    public init(start: Int, count: Int, prefixRows: [Int], attentionOffset: Int) {
        self.start = start
        self.count = count
        self.prefixRows = prefixRows
        self.attentionOffset = attentionOffset
    }

    /// Floats of attention probabilities this segment keeps for `heads` heads.
    public func attentionSize(heads: Int) -> Int { heads * count * keyCount }
}

/// out [T, W] = softmax(q k^T / sqrt(hs) + causal mask) v per head, for each segment's rows;
/// qkv [T, 3W] holds q | k | v (head h at columns h*hs ..< (h+1)*hs of each part);
/// att keeps the probabilities, segment by segment: [heads, count, keyCount] (zeros past the diagonal).
public func attentionForward(
    out: FloatPointer, att: FloatPointer, qkv: ConstFloatPointer,
    segments: ArraySlice<AttentionSegment>, heads: Int, width: Int, headRange: Range<Int>? = nil
) {
    let hs = width / heads
    let scale = 1 / Float(hs).squareRoot()
    let stride = 3 * width
    var scores = [Float](repeating: 0, count: segments.map(\.keyCount).max() ?? 0)
    for segment in segments {
        let keyRows = segment.keyRows, nk = segment.keyCount
        for h in headRange ?? 0..<heads {
            for j in 0..<segment.count {
                let visible = segment.visibleKeys(query: j)
                let q = qkv + (segment.start + j) * stride + h * hs
                let probabilities = att + segment.attentionOffset + (h * segment.count + j) * nk
                var maxScore = -Float.infinity
                for t in 0..<visible {
                    let k = qkv + keyRows[t] * stride + width + h * hs
                    var dot: Float = 0
                    for i in 0..<hs { dot += q[i] * k[i] }
                    dot *= scale
                    scores[t] = dot
                    maxScore = max(maxScore, dot)
                }
                var sum: Float = 0
                for t in 0..<visible {
                    let e = expf(scores[t] - maxScore)
                    probabilities[t] = e
                    sum += e
                }
                let inv = 1 / sum
                for t in 0..<visible { probabilities[t] *= inv }
                for t in visible..<nk { probabilities[t] = 0 }
                let o = out + (segment.start + j) * width + h * hs
                for i in 0..<hs { o[i] = 0 }
                for t in 0..<visible {
                    let v = qkv + keyRows[t] * stride + 2 * width + h * hs
                    let p = probabilities[t]
                    for i in 0..<hs { o[i] += p * v[i] }
                }
            }
        }
    }
}

/// dqkv += d(attention)/d(qkv) applied to dout, for the given segments.
/// Gradient buffers cover packed rows from `firstGradientRow` on: dout [T - first, W],
/// dqkv [T - first, 3W]; keys and values on earlier rows (frozen prefixes) get no gradient.
public func attentionBackward(
    dqkv: FloatPointer, dout: ConstFloatPointer,
    qkv: ConstFloatPointer, att: ConstFloatPointer,
    segments: ArraySlice<AttentionSegment>, heads: Int, width: Int, firstGradientRow: Int,
    headRange: Range<Int>? = nil
) {
    let hs = width / heads
    let scale = 1 / Float(hs).squareRoot()
    let stride = 3 * width
    var dprobabilities = [Float](repeating: 0, count: segments.map(\.keyCount).max() ?? 0)
    for segment in segments where segment.start >= firstGradientRow {
        let keyRows = segment.keyRows, nk = segment.keyCount
        for h in headRange ?? 0..<heads {
            for j in 0..<segment.count {
                let visible = segment.visibleKeys(query: j)
                let row = segment.start + j
                let q = qkv + row * stride + h * hs
                let dq = dqkv + (row - firstGradientRow) * stride + h * hs
                let g = dout + (row - firstGradientRow) * width + h * hs
                let probabilities = att + segment.attentionOffset + (h * segment.count + j) * nk
                // d(probability_t) = g . v_t ; dv_t += p_t g
                var weighted: Float = 0
                for t in 0..<visible {
                    let keyRow = keyRows[t]
                    let v = qkv + keyRow * stride + 2 * width + h * hs
                    var dot: Float = 0
                    for i in 0..<hs { dot += g[i] * v[i] }
                    dprobabilities[t] = dot
                    weighted += probabilities[t] * dot
                    if keyRow >= firstGradientRow {
                        let dv = dqkv + (keyRow - firstGradientRow) * stride + 2 * width + h * hs
                        let p = probabilities[t]
                        for i in 0..<hs { dv[i] += p * g[i] }
                    }
                }
                // softmax backward: dscore_t = p_t (dp_t - sum_u p_u dp_u); then through q k^T * scale.
                for t in 0..<visible {
                    let dscore = probabilities[t] * (dprobabilities[t] - weighted) * scale
                    let keyRow = keyRows[t]
                    let k = qkv + keyRow * stride + width + h * hs
                    for i in 0..<hs { dq[i] += dscore * k[i] }
                    if keyRow >= firstGradientRow {
                        let dk = dqkv + (keyRow - firstGradientRow) * stride + width + h * hs
                        for i in 0..<hs { dk[i] += dscore * q[i] }
                    }
                }
            }
        }
    }
}
