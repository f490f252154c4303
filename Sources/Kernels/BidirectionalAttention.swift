// Multi-head self-attention without a mask, as in CLIP's image tower (OpenAI clip/model.py
// VisionTransformer: nn.MultiheadAttention with no attn_mask; transformers' CLIPAttention with
// attention_mask None). All sequences have the same length T, packed one after another into
// [B*T, ...] rows. The tower's weights are frozen, but prompt tokens appended to the images
// (MaPLe) are trained, so the forward may keep the probabilities for a backward pass.
//
// Without a mask every (sequence, head) is two dense products, q k^T and p v, which go through
// cblas_sgemm straight from the packed qkv rows (leading dimension 3W), so attention runs on
// OpenBLAS's vector kernels; the backward is four such products and the softmax's own step. The products are small (197 x 197 x 64 at ViT-B/16), so each core
// takes whole (sequence, head) pairs with OpenBLAS single-threaded inside, instead of every
// product being split across the cores. Measured on the whole tower at ViT-B/16 (16 images,
// 2 threads, best of 3, variants alternated): sgemm split across the cores ran 1.2x faster than
// hand-written loops (keys transposed, four queries at a time), and sgemm per core 1.2x faster
// again (4.7 against 3.9 images/s).

import COpenBLAS
import Foundation

/// out [B*Q, W] = softmax(q k^T / sqrt(hs)) v per head, for the first Q rows of each sequence
/// (queries) against all T rows (keys); qkv [B*T, 3W] holds q | k | v, head h at columns
/// h*hs ..< (h+1)*hs of each part. Q = T gives every row; Q = 1 only each sequence's first
/// row (CLIP's class token), all that the image tower's last block needs.
/// OpenBLAS's thread count is process-wide: it is 1 while any call of this function runs and
/// comes back to its earlier value when the last one ends, so sgemm calls made meanwhile by
/// other threads run single-threaded (still correct, only slower).
public func bidirectionalAttentionForward(
    out: FloatPointer, qkv: ConstFloatPointer,
    sequences: Int, sequenceLength t: Int, queries: Int, heads: Int, width: Int, on pool: ThreadPool = .dispatch
) {
    unmaskedAttention(out: out, kept: nil, qkv: qkv, sequences: sequences, sequenceLength: t,
                     queries: queries, heads: heads, width: width, on: pool)
}

/// The same attention, keeping the probabilities for `bidirectionalAttentionBackward`:
/// probabilities [B, heads, Q, T], one [Q, T] block per (sequence, head).
public func bidirectionalAttentionForward(
    out: FloatPointer, probabilities: FloatPointer, qkv: ConstFloatPointer,
    sequences: Int, sequenceLength t: Int, queries: Int, heads: Int, width: Int, on pool: ThreadPool = .dispatch
) {
    unmaskedAttention(out: out, kept: probabilities, qkv: qkv, sequences: sequences, sequenceLength: t,
                     queries: queries, heads: heads, width: width, on: pool)
}

private func unmaskedAttention(
    out: FloatPointer, kept: FloatPointer?, qkv: ConstFloatPointer,
    sequences: Int, sequenceLength t: Int, queries: Int, heads: Int, width: Int, on pool: ThreadPool = .dispatch
) {
    precondition(queries >= 1 && queries <= t, "bidirectionalAttentionForward: \(queries) queries for \(t) rows")
    let hs = width / heads, stride = 3 * width
    let scale = 1 / Float(hs).squareRoot()
    let (q32, t32, hs32, stride32) = (Int32(queries), Int32(t), Int32(hs), Int32(stride))
    SingleThreadedBLAS.shared.enter()
    defer { SingleThreadedBLAS.shared.leave() }
    parallelChunks(sequences * heads, minimumChunk: 1, on: pool) { items in
        let own = kept == nil ? FloatPointer.allocate(capacity: queries * t) : nil
        defer { own?.deallocate() }
        for item in items {
            let (b, h) = (item / heads, item % heads)
            let rows = qkv + b * t * stride
            let scores = own ?? kept! + item * queries * t
            // scores [Q, T] = q_h [Q, hs] k_h [T, hs]^T / sqrt(hs)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q32, t32, hs32,
                        scale, rows + h * hs, stride32, rows + width + h * hs, stride32, 0, scores, t32)
            for j in 0..<queries { softmaxInPlace(scores + j * t, count: t) }
            // out_h [Q, hs] = probabilities [Q, T] v_h [T, hs]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q32, hs32, t32,
                        1, scores, t32, rows + 2 * width + h * hs, stride32,
                        0, out + b * queries * width + h * hs, Int32(width))
        }
    }
}

/// dqkv [B*T, 3W] += d(attention)/d(qkv) applied to dout [B*Q, W], for the attention
/// `bidirectionalAttentionForward(out:probabilities:...)` computed with the same sizes from qkv,
/// whose probabilities it reads. Per (sequence, head), with S the scaled scores and P = softmax(S):
///   dP = dO V^T;  dS = P * (dP - rowsum(dP * P));  dq += dS K / sqrt(hs);  dk += dS^T Q / sqrt(hs);
///   dv += P^T dO.
/// Only the first Q rows of each sequence get a q gradient; every row gets k and v gradients.
/// OpenBLAS runs single-threaded meanwhile, as in the forward.
public func bidirectionalAttentionBackward(
    dqkv: FloatPointer, dout: ConstFloatPointer, qkv: ConstFloatPointer, probabilities: ConstFloatPointer,
    sequences: Int, sequenceLength t: Int, queries: Int, heads: Int, width: Int, on pool: ThreadPool = .dispatch
) {
    precondition(queries >= 1 && queries <= t, "bidirectionalAttentionBackward: \(queries) queries for \(t) rows")
    let hs = width / heads, stride = 3 * width
    let scale = 1 / Float(hs).squareRoot()
    let (q32, t32, hs32, stride32, width32) = (Int32(queries), Int32(t), Int32(hs), Int32(stride), Int32(width))
    SingleThreadedBLAS.shared.enter()
    defer { SingleThreadedBLAS.shared.leave() }
    parallelChunks(sequences * heads, minimumChunk: 1, on: pool) { items in
        let dScores = FloatPointer.allocate(capacity: queries * t)
        defer { dScores.deallocate() }
        for item in items {
            let (b, h) = (item / heads, item % heads)
            let rows = qkv + b * t * stride, dRows = dqkv + b * t * stride
            let p = probabilities + item * queries * t
            let dO = dout + b * queries * width + h * hs
            // dP [Q, T] = dO_h [Q, hs] v_h [T, hs]^T
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q32, t32, hs32,
                        1, dO, width32, rows + 2 * width + h * hs, stride32, 0, dScores, t32)
            // Softmax backward, with the score scale folded in: dS = P (dP - rowsum(dP P)) / sqrt(hs).
            for j in 0..<queries { softmaxBackwardInPlace(dScores + j * t, probabilities: p + j * t, count: t, scale: scale) }
            // dq_h [Q, hs] += dS [Q, T] k_h [T, hs]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q32, hs32, t32,
                        1, dScores, t32, rows + width + h * hs, stride32, 1, dRows + h * hs, stride32)
            // dk_h [T, hs] += dS^T [T, Q] q_h [Q, hs]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t32, hs32, q32,
                        1, dScores, t32, rows + h * hs, stride32, 1, dRows + width + h * hs, stride32)
            // dv_h [T, hs] += P^T [T, Q] dO_h [Q, hs]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t32, hs32, q32,
                        1, p, t32, dO, width32, 1, dRows + 2 * width + h * hs, stride32)
        }
    }
}

/// dp [n] = scale * p * (dp - sum(dp * p)): the gradient of the softmax's input from that of its
/// output dp, in place; the reduction is a loop of its own so that both loops vectorise.
@inline(__always)
private func softmaxBackwardInPlace(_ dp: FloatPointer, probabilities p: ConstFloatPointer, count n: Int, scale: Float) {
    var weighted: Float = 0
    for r in 0..<n { weighted += dp[r] * p[r] }
    for r in 0..<n { dp[r] = scale * p[r] * (dp[r] - weighted) }
}

/// x [n] = softmax(x), shifted by the maximum so that no exponent overflows. The reductions
/// (maximum, sum) are loops of their own, so the exponentials and the scaling vectorise.
@inline(__always)
private func softmaxInPlace(_ x: FloatPointer, count n: Int) {
    var maxScore = -Float.infinity
    for r in 0..<n { maxScore = max(maxScore, x[r]) }
    for r in 0..<n { x[r] = fastExp(x[r] - maxScore) }
    var sum: Float = 0
    for r in 0..<n { sum += x[r] }
    let inv = 1 / sum
    for r in 0..<n { x[r] *= inv }
}

/// Holds OpenBLAS at one thread while any attention call runs; the count in force before the
/// first one is restored when the last one leaves, whatever order concurrent calls end in.
private final class SingleThreadedBLAS: @unchecked Sendable {
    static let shared = SingleThreadedBLAS()
    // `users` and `saved` are only touched under `lock`.
    private let lock = NSLock()
    private var users = 0
    private var saved = 1

    func enter() {
        lock.lock()
        defer { lock.unlock() }
        if users == 0 {
            saved = blasThreadCount()
            setBLASThreadCount(1)
        }
        users += 1
    }

    func leave() {
        lock.lock()
        defer { lock.unlock() }
        users -= 1
        if users == 0 { setBLASThreadCount(saved) }
    }
}
