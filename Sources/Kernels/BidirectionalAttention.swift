// Multi-head self-attention without a mask, as in CLIP's image tower (OpenAI clip/model.py
// VisionTransformer: nn.MultiheadAttention with no attn_mask; transformers' CLIPAttention with
// attention_mask None). Forward only: the image tower is frozen and never differentiated.
// All sequences have the same length T, packed one after another into [B*T, ...] rows.
//
// The scores q.k are computed with the keys transposed per (sequence, head) into [hs, T], so
// the innermost loops run over contiguous keys (for scores) and contiguous head columns (for
// the weighted sum of values) without a floating-point reduction, which lets them vectorise.

import Foundation

/// out [B*Q, W] = softmax(q k^T / sqrt(hs)) v per head, for the first Q rows of each sequence
/// (queries) against all T rows (keys); qkv [B*T, 3W] holds q | k | v, head h at columns
/// h*hs ..< (h+1)*hs of each part. Q = T gives every row; Q = 1 only each sequence's first
/// row (CLIP's class token), all that the image tower's last block needs.
/// `items` selects (sequence, head) pairs as b * heads + h, so callers can split them across cores.
public func bidirectionalAttentionForward(
    out: FloatPointer, qkv: ConstFloatPointer,
    sequenceLength t: Int, queries: Int, heads: Int, width: Int, items: Range<Int>
) {
    precondition(queries >= 1 && queries <= t, "bidirectionalAttentionForward: \(queries) queries for \(t) rows")
    let hs = width / heads
    let scale = 1 / Float(hs).squareRoot()
    let stride = 3 * width
    let keysTransposed = FloatPointer.allocate(capacity: hs * t)
    let scores = FloatPointer.allocate(capacity: 4 * t)
    defer {
        keysTransposed.deallocate()
        scores.deallocate()
    }
    for item in items {
        let (b, h) = (item / heads, item % heads)
        let rows = qkv + b * t * stride
        for r in 0..<t {
            let k = rows + r * stride + width + h * hs
            for i in 0..<hs { keysTransposed[i * t + r] = k[i] }
        }
        // Queries four at a time: each key and value loaded serves four of them.
        var j = 0
        while j < queries {
            let block = min(4, queries - j)
            let q = rows + j * stride + h * hs
            let (s0, s1, s2, s3) = (scores, scores + t, scores + 2 * t, scores + 3 * t)
            scores.update(repeating: 0, count: block * t)
            for i in 0..<hs {
                let k = keysTransposed + i * t
                if block == 4 {
                    let (a0, a1, a2, a3) = (q[i] * scale, q[stride + i] * scale, q[2 * stride + i] * scale, q[3 * stride + i] * scale)
                    for r in 0..<t {
                        let key = k[r]
                        s0[r] += a0 * key
                        s1[r] += a1 * key
                        s2[r] += a2 * key
                        s3[r] += a3 * key
                    }
                } else {
                    for query in 0..<block {
                        let a = q[query * stride + i] * scale, sq = scores + query * t
                        for r in 0..<t { sq[r] += a * k[r] }
                    }
                }
            }
            for query in 0..<block { softmaxInPlace(scores + query * t, count: t) }
            let o = out + (b * queries + j) * width + h * hs
            for query in 0..<block { (o + query * width).update(repeating: 0, count: hs) }
            for r in 0..<t {
                let v = rows + r * stride + 2 * width + h * hs
                if block == 4 {
                    let (p0, p1, p2, p3) = (s0[r], s1[r], s2[r], s3[r])
                    let (o1, o2, o3) = (o + width, o + 2 * width, o + 3 * width)
                    for i in 0..<hs {
                        let value = v[i]
                        o[i] += p0 * value
                        o1[i] += p1 * value
                        o2[i] += p2 * value
                        o3[i] += p3 * value
                    }
                } else {
                    for query in 0..<block {
                        let p = scores[query * t + r], oq = o + query * width
                        for i in 0..<hs { oq[i] += p * v[i] }
                    }
                }
            }
            j += block
        }
    }
}

/// x [n] = softmax(x), shifted by the maximum so no exponent overflows.
@inline(__always)
private func softmaxInPlace(_ x: FloatPointer, count n: Int) {
    var maxScore = -Float.infinity
    for r in 0..<n { maxScore = max(maxScore, x[r]) }
    var sum: Float = 0
    for r in 0..<n {
        let e = fastExp(x[r] - maxScore)
        x[r] = e
        sum += e
    }
    let inv = 1 / sum
    for r in 0..<n { x[r] *= inv }
}
