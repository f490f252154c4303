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
    let scores = FloatPointer.allocate(capacity: t)
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
        for j in 0..<queries {
            let q = rows + j * stride + h * hs
            scores.update(repeating: 0, count: t)
            for i in 0..<hs {
                let qi = q[i] * scale
                let k = keysTransposed + i * t
                for r in 0..<t { scores[r] += qi * k[r] }
            }
            var maxScore = -Float.infinity
            for r in 0..<t { maxScore = max(maxScore, scores[r]) }
            var sum: Float = 0
            for r in 0..<t {
                let e = fastExp(scores[r] - maxScore)
                scores[r] = e
                sum += e
            }
            let inv = 1 / sum
            let o = out + (b * queries + j) * width + h * hs
            o.update(repeating: 0, count: hs)
            for r in 0..<t {
                let p = scores[r] * inv
                let v = rows + r * stride + 2 * width + h * hs
                for i in 0..<hs { o[i] += p * v[i] }
            }
        }
    }
}
