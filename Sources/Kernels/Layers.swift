// Layer forward and backward passes over flat Float buffers, in the manner of llm.c's
// train_gpt2.c: one function per direction, shapes in the comments, row-major buffers.
// Backward functions accumulate (+=) into their gradient buffers; callers zero them once.
// The towers' weights are frozen, so their backward passes return input gradients only; the
// small maps a method trains (MaPLe's coupling maps) take their weight gradients from
// `matmulWeightBackward`.

import CDNNL
import COpenBLAS
import Foundation

public typealias FloatPointer = UnsafeMutablePointer<Float>
public typealias ConstFloatPointer = UnsafePointer<Float>

// MARK: - LayerNorm (train_gpt2.c layernorm_forward / layernorm_backward)

/// out [n, c] = (inp - mean) * rstd * weight + bias; keeps mean [n] and rstd [n] for backward.
public func layerNormForward(
    out: FloatPointer, mean: FloatPointer, rstd: FloatPointer,
    inp: ConstFloatPointer, weight: ConstFloatPointer, bias: ConstFloatPointer,
    n: Int, c: Int, eps: Float
) {
    for row in 0..<n {
        let x = inp + row * c
        var sum: Float = 0
        for i in 0..<c { sum += x[i] }
        let m = sum / Float(c)
        var variance: Float = 0
        for i in 0..<c {
            let d = x[i] - m
            variance += d * d
        }
        // Biased variance, as torch.nn.LayerNorm.
        let s = 1 / (variance / Float(c) + eps).squareRoot()
        let o = out + row * c
        for i in 0..<c { o[i] = (x[i] - m) * s * weight[i] + bias[i] }
        mean[row] = m
        rstd[row] = s
    }
}

/// dinp [n, c] += d(LayerNorm)/d(inp) applied to dout [n, c].
public func layerNormBackward(
    dinp: FloatPointer, dout: ConstFloatPointer,
    inp: ConstFloatPointer, weight: ConstFloatPointer, mean: ConstFloatPointer, rstd: ConstFloatPointer,
    n: Int, c: Int
) {
    for row in 0..<n {
        let x = inp + row * c, g = dout + row * c, d = dinp + row * c
        let m = mean[row], s = rstd[row]
        // dnorm = dout * weight; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
        var dnormMean: Float = 0, dnormNormMean: Float = 0
        for i in 0..<c {
            let norm = (x[i] - m) * s
            let dnorm = weight[i] * g[i]
            dnormMean += dnorm
            dnormNormMean += dnorm * norm
        }
        dnormMean /= Float(c)
        dnormNormMean /= Float(c)
        for i in 0..<c {
            let norm = (x[i] - m) * s
            let dnorm = weight[i] * g[i]
            d[i] += s * (dnorm - dnormMean - norm * dnormNormMean)
        }
    }
}

// MARK: - Linear layer (train_gpt2.c matmul_forward / matmul_backward), through cblas_sgemm

/// out [n, oc] = residual [n, oc] + inp [n, c] @ weight [oc, c]^T + bias [oc], the weight in
/// PyTorch's nn.Linear layout. With a residual, the block's skip connection is folded into the
/// sgemm (beta = 1) instead of taking another pass over the rows; residual may alias out.
public func matmulForward(
    out: FloatPointer, inp: ConstFloatPointer, weight: ConstFloatPointer, bias: ConstFloatPointer?,
    residual: ConstFloatPointer? = nil, n: Int, c: Int, oc: Int
) {
    guard n > 0 else { return }
    let beta: Float = prefillOutput(out: out, bias: bias, residual: residual, n: n, oc: oc) ? 1 : 0
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(oc), Int32(c),
                1, inp, Int32(c), weight, Int32(c), beta, out, Int32(oc))
}

/// dinp [n, c] += dout [n, oc] @ weight [oc, c]. The weight and bias are frozen: no gradient.
public func matmulBackward(
    dinp: FloatPointer, dout: ConstFloatPointer, weight: ConstFloatPointer,
    n: Int, c: Int, oc: Int
) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(c), Int32(oc),
                1, dout, Int32(oc), weight, Int32(c), 1, dinp, Int32(c))
}

/// dweight [oc, c] += dout [n, oc]^T @ inp [n, c] and dbias [oc] += the sum of dout's rows:
/// train_gpt2.c matmul_backward's parameter half, for a layer that trains.
public func matmulWeightBackward(
    dweight: FloatPointer, dbias: FloatPointer?, dout: ConstFloatPointer, inp: ConstFloatPointer,
    n: Int, c: Int, oc: Int
) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(oc), Int32(c), Int32(n),
                1, dout, Int32(oc), inp, Int32(c), 1, dweight, Int32(c))
    if let dbias {
        for row in 0..<n { for o in 0..<oc { dbias[o] += dout[row * oc + o] } }
    }
}

// MARK: - Activations

/// out [n] = x * sigmoid(1.702 x), OpenAI CLIP's QuickGELU (clip/model.py).
public func quickGELUForward(out: FloatPointer, inp: ConstFloatPointer, n: Int) {
    for i in 0..<n {
        let x = inp[i]
        out[i] = x / (1 + fastExp(-1.702 * x))
    }
}

/// dinp [n] += dout * d(QuickGELU)/dx = s + 1.702 x s (1 - s), s = sigmoid(1.702 x).
public func quickGELUBackward(dinp: FloatPointer, dout: ConstFloatPointer, inp: ConstFloatPointer, n: Int) {
    for i in 0..<n {
        let x = inp[i]
        let s = 1 / (1 + fastExp(-1.702 * x))
        dinp[i] += dout[i] * (s + 1.702 * x * s * (1 - s))
    }
}

/// e^x without a libm call, so that loops over it vectorise: x = k ln 2 + r with
/// |r| <= ln 2 / 2 (ln 2 split in two parts, after Cody and Waite), e^r by its Taylor
/// polynomial to r^7 (relative error below 2e-7), times 2^k built in the exponent bits.
/// Inputs are clamped to [-87, 88], where e^x is a normal Float.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    var x = x < -87 ? -87 : x
    x = x > 88 ? 88 : x
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    let shifted = x * 1.44269504088896341 + 12582912
    let k = shifted - 12582912
    let r = x - k * 0.693359375 + k * 2.12194440e-4
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    return p * Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
}

/// out [n] = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU (torch.nn.functional.gelu default).
public func geluForward(out: FloatPointer, inp: ConstFloatPointer, n: Int) {
    let invSqrt2: Float = 0.70710678118654752
    for i in 0..<n {
        let x = inp[i]
        out[i] = 0.5 * x * (1 + erff(x * invSqrt2))
    }
}

/// dinp [n] += dout * (Phi(x) + x phi(x)), Phi and phi the standard normal cdf and pdf.
public func geluBackward(dinp: FloatPointer, dout: ConstFloatPointer, inp: ConstFloatPointer, n: Int) {
    let invSqrt2: Float = 0.70710678118654752
    let invSqrt2Pi: Float = 0.39894228040143268
    for i in 0..<n {
        let x = inp[i]
        let cdf = 0.5 * (1 + erff(x * invSqrt2))
        let pdf = invSqrt2Pi * expf(-0.5 * x * x)
        dinp[i] += dout[i] * (cdf + x * pdf)
    }
}

// MARK: - Residual (train_gpt2.c residual_forward / residual_backward)

/// out [n] = a [n] + b [n].
public func residualForward(out: FloatPointer, a: ConstFloatPointer, b: ConstFloatPointer, n: Int) {
    for i in 0..<n { out[i] = a[i] + b[i] }
}

/// da [n] += dout, db [n] += dout.
public func residualBackward(da: FloatPointer, db: FloatPointer, dout: ConstFloatPointer, n: Int) {
    for i in 0..<n {
        da[i] += dout[i]
        db[i] += dout[i]
    }
}

// MARK: - L2 normalisation (CLIP's features / features.norm(dim=-1, keepdim=true))

/// out [n, c] = inp / ||inp|| per row; keeps norm [n] for backward.
public func l2NormalizeForward(out: FloatPointer, norm: FloatPointer, inp: ConstFloatPointer, n: Int, c: Int) {
    for row in 0..<n {
        let x = inp + row * c, o = out + row * c
        var sum: Float = 0
        for i in 0..<c { sum += x[i] * x[i] }
        let length = sum.squareRoot()
        norm[row] = length
        let scale = length > 0 ? 1 / length : 0
        for i in 0..<c { o[i] = x[i] * scale }
    }
}

/// dinp [n, c] += (dout - y (y . dout)) / ||inp||, y = inp / ||inp||.
public func l2NormalizeBackward(
    dinp: FloatPointer, dout: ConstFloatPointer, out: ConstFloatPointer, norm: ConstFloatPointer, n: Int, c: Int
) {
    for row in 0..<n {
        let y = out + row * c, g = dout + row * c, d = dinp + row * c
        guard norm[row] > 0 else { continue }
        var dot: Float = 0
        for i in 0..<c { dot += y[i] * g[i] }
        let scale = 1 / norm[row]
        for i in 0..<c { d[i] += (g[i] - y[i] * dot) * scale }
    }
}

// MARK: - Buffers and threading

/// A fixed-size, zero-initialised Float buffer with a stable address, for activations and
/// gradients. It is shared between threads only by code that writes disjoint ranges.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: FloatPointer

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.update(from: base, count: values.count) } }
    }

    deinit { pointer.deallocate() }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// The threads the element-wise layers run on between two products: those of the pool that
/// runs the products, because a pool's workers keep their cores busy for a while after each
/// product, waiting for the next, and threads of another pool would compete with them.
/// Measured on the ViT-B/16 text tower's training step, 2 cores: bf16 (oneDNN on libgomp) 1.19 s
/// on Dispatch's threads, 0.96 s on libgomp's; fp32 (OpenBLAS's own threads) 1.6 s on Dispatch's,
/// 2.3 s on libgomp's.
public enum ThreadPool: Sendable {
    /// Dispatch's threads, beside OpenBLAS's (fp32).
    case dispatch
    /// libgomp's team, which oneDNN's bf16 products run on.
    case openMP

    /// The pool for the products of `precision`.
    public init(_ precision: Precision) { self = precision == .bf16 ? .openMP : .dispatch }

    var threads: Int {
        switch self {
        case .dispatch: ProcessInfo.processInfo.activeProcessorCount
        case .openMP: Int(omp_get_max_threads())
        }
    }
}

/// Runs `body` over `count` items split into one chunk per thread of `pool`; small jobs run on
/// the calling thread.
public func parallelChunks(_ count: Int, minimumChunk: Int, on pool: ThreadPool = .dispatch, _ body: (Range<Int>) -> Void) {
    let chunks = min(pool.threads, count / max(minimumChunk, 1))
    if chunks <= 1 {
        body(0..<count)
        return
    }
    // The chunks touch disjoint ranges, which is what makes sharing `body` safe.
    guard pool == .openMP else {
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                body((chunk * count / chunks)..<((chunk + 1) * count / chunks))
            }
        }
        return
    }
    withoutActuallyEscaping(body) { body in
        var job = ParallelJob(body: body, count: count, chunks: chunks)
        withUnsafeMutablePointer(to: &job) { job in
            GOMP_parallel({ context in
                let job = context!.assumingMemoryBound(to: ParallelJob.self).pointee
                // A team may be smaller than asked for; each thread then takes every n-th chunk.
                let (thread, threads) = (Int(omp_get_thread_num()), Int(omp_get_num_threads()))
                for chunk in stride(from: thread, to: job.chunks, by: max(threads, 1)) {
                    job.body((chunk * job.count / job.chunks)..<((chunk + 1) * job.count / job.chunks))
                }
            }, job, UInt32(chunks), 0)
        }
    }
}

/// What each thread of a parallelChunks team reads.
private struct ParallelJob {
    let body: (Range<Int>) -> Void
    let count: Int
    let chunks: Int
}

// MARK: - Array conveniences for small batches of features

/// Row-wise L2 normalisation of x [rows, columns]: the normalised rows and each row's norm.
public func l2Normalize(_ x: [Float], rows: Int, columns: Int) -> (out: [Float], norms: [Float]) {
    precondition(x.count == rows * columns, "l2Normalize: \(x.count) values is not \(rows) x \(columns)")
    var out = [Float](repeating: 0, count: x.count)
    var norms = [Float](repeating: 0, count: rows)
    l2NormalizeForward(out: &out, norm: &norms, inp: x, n: rows, c: columns)
    return (out, norms)
}

/// Gradient with respect to x of row-wise L2 normalisation, given its output and norms.
public func l2NormalizeBackward(dOut: [Float], out: [Float], norms: [Float], columns: Int) -> [Float] {
    precondition(dOut.count == out.count && out.count == norms.count * columns, "l2NormalizeBackward: shapes differ")
    var dx = [Float](repeating: 0, count: dOut.count)
    l2NormalizeBackward(dinp: &dx, dout: dOut, out: out, norm: norms, n: norms.count, c: columns)
    return dx
}
