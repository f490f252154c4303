// The pre-LN residual attention block both towers are made of (transformers' CLIPEncoderLayer,
// OpenAI clip/model.py ResidualAttentionBlock):
//   mid = x + out_proj(attention(ln_1(x)))
//   out = mid + fc2(act(fc1(ln_2(mid))))
// Only attention differs between the towers (causal over packed prompts in the text tower,
// unmasked in the image tower), so the tower passes its attention kernel in. Forward and
// backward sit side by side as in llm.c's train_gpt2.c; backward returns the input gradient
// only (the weights are frozen).
//
// After attention a block may continue on some of its rows only (`outputRows`): a tower's last
// block feeds only the EOT rows (text) or the class tokens (image) to the features, so its
// out_proj and MLP run on those rows, while attention still needs every row's keys and values.

import Kernels

/// One pre-LN transformer block's frozen parameters. Linear weights keep PyTorch's [out, in] layout.
public struct CLIPEncoderLayerWeights: Sendable {
    public var layerNorm1Weight: [Float]  // [W]
    public var layerNorm1Bias: [Float]  // [W]
    /// q_proj; k_proj; v_proj stacked: [3W, W], so one sgemm produces q, k and v.
    public var qkvWeight: [Float]
    public var qkvBias: [Float]  // [3W]
    public var outWeight: [Float]  // [W, W]
    public var outBias: [Float]  // [W]
    public var layerNorm2Weight: [Float]  // [W]
    public var layerNorm2Bias: [Float]  // [W]
    public var fc1Weight: [Float]  // [I, W]
    public var fc1Bias: [Float]  // [I]
    public var fc2Weight: [Float]  // [W, I]
    public var fc2Bias: [Float]  // [W]

    public init(layerNorm1Weight: [Float], layerNorm1Bias: [Float], qkvWeight: [Float], qkvBias: [Float], outWeight: [Float],
                outBias: [Float], layerNorm2Weight: [Float], layerNorm2Bias: [Float], fc1Weight: [Float], fc1Bias: [Float],
                fc2Weight: [Float], fc2Bias: [Float]) {
        (self.layerNorm1Weight, self.layerNorm1Bias, self.qkvWeight, self.qkvBias) = (layerNorm1Weight, layerNorm1Bias, qkvWeight, qkvBias)
        (self.outWeight, self.outBias, self.layerNorm2Weight, self.layerNorm2Bias) = (outWeight, outBias, layerNorm2Weight, layerNorm2Bias)
        (self.fc1Weight, self.fc1Bias, self.fc2Weight, self.fc2Bias) = (fc1Weight, fc1Bias, fc2Weight, fc2Bias)
    }
}

/// A block's four linear weights in bf16, made once for a tower that runs in bf16.
struct EncoderLayerBF16: Sendable {
    let qkv, out, fc1, fc2: BF16Matrix

    init(_ layer: CLIPEncoderLayerWeights, shape: EncoderBlockShape) {
        let (w, inner) = (shape.width, shape.intermediate)
        qkv = BF16Matrix(layer.qkvWeight, rows: 3 * w, columns: w)
        out = BF16Matrix(layer.outWeight, rows: w, columns: w)
        fc1 = BF16Matrix(layer.fc1Weight, rows: inner, columns: w)
        fc2 = BF16Matrix(layer.fc2Weight, rows: w, columns: inner)
    }
}

/// out = residual + inp @ weight^T + bias, in bf16 when the block has a bf16 copy of the weight.
private func linearForward(
    out: FloatPointer, inp: ConstFloatPointer, weight: [Float], bf16: BF16Matrix?, bias: [Float],
    residual: ConstFloatPointer? = nil, n: Int, c: Int, oc: Int
) {
    if let bf16 {
        matmulForward(out: out, inp: inp, weight: bf16, bias: bias, residual: residual, n: n)
    } else {
        matmulForward(out: out, inp: inp, weight: weight, bias: bias, residual: residual, n: n, c: c, oc: oc)
    }
}

/// dinp += dout @ weight, in bf16 when the block has a bf16 copy of the weight.
private func linearBackward(dinp: FloatPointer, dout: ConstFloatPointer, weight: [Float], bf16: BF16Matrix?, n: Int, c: Int, oc: Int) {
    if let bf16 {
        matmulBackward(dinp: dinp, dout: dout, weight: bf16, n: n)
    } else {
        matmulBackward(dinp: dinp, dout: dout, weight: weight, n: n, c: c, oc: oc)
    }
}

/// The sizes a block works with, taken from either tower's configuration.
struct EncoderBlockShape {
    var width: Int
    var intermediate: Int
    var activation: CLIPActivation
    var layerNormEpsilon: Float

    init(_ text: CLIPTextConfiguration) {
        (width, intermediate, activation, layerNormEpsilon) =
            (text.hiddenSize, text.intermediateSize, text.hiddenActivation, text.layerNormEpsilon)
    }

    init(_ vision: CLIPVisionConfiguration) {
        (width, intermediate, activation, layerNormEpsilon) =
            (vision.hiddenSize, vision.intermediateSize, vision.hiddenActivation, vision.layerNormEpsilon)
    }
}

/// Floats of every activation buffer of a block that takes `rows` rows and continues on
/// `outputRows` of them after attention (train_gpt2.c fill_in_activation_sizes); both towers
/// size their buffers here. `probabilities` is what the tower's attention keeps for backward.
struct EncoderActivationSizes {
    // Kept by forward for backward (EncoderBlockActivations).
    var mean1, rstd1, qkv, probabilities, residualMid, mean2, rstd2, fc1: Int
    // Forward scratch (EncoderBlockScratch): LayerNorm outputs, attention output, MLP activation.
    var normed, attended, activated: Int
    // Backward scratch (EncoderBlockGradients).
    var dNormed, dQKV, dFC1, dActivated: Int

    init(rows n: Int, outputRows m: Int, shape: EncoderBlockShape, probabilities: Int = 0) {
        let (w, inner, widest) = (shape.width, shape.intermediate, max(n, m))
        (mean1, rstd1, qkv, self.probabilities) = (n, n, n * 3 * w, probabilities)
        (residualMid, mean2, rstd2, fc1) = (m * w, m, m, m * inner)
        (normed, attended, activated) = (widest * w, widest * w, m * inner)
        (dNormed, dQKV, dFC1, dActivated) = (widest * w, n * 3 * w, m * inner, m * inner)
    }
}

/// Views into one zeroed allocation, one view per size, in order (llm.c's single activation slab).
private func slab(_ sizes: [Int]) -> (FloatBuffer, [FloatPointer]) {
    let buffer = FloatBuffer(count: sizes.reduce(0, +))
    var offset = 0
    let views = sizes.map { size in
        defer { offset += size }
        return buffer.pointer + offset
    }
    return (buffer, views)
}

/// What a block's forward keeps for its backward; the image tower reuses one set as scratch.
struct EncoderBlockActivations: @unchecked Sendable {
    // Holds the memory the views point into.
    private let storage: FloatBuffer
    var mean1, rstd1: FloatPointer  // [n]
    var qkv: FloatPointer  // [n, 3W]
    var probabilities: FloatPointer  // the tower attention's own layout
    var residualMid: FloatPointer  // [m, W] x + attention branch, at the output rows
    var mean2, rstd2: FloatPointer  // [m]
    var fc1: FloatPointer  // [m, I] before the activation

    init(_ s: EncoderActivationSizes) {
        let (storage, views) = slab([s.mean1, s.rstd1, s.qkv, s.probabilities, s.residualMid, s.mean2, s.rstd2, s.fc1])
        self.storage = storage
        (mean1, rstd1, qkv, probabilities) = (views[0], views[1], views[2], views[3])
        (residualMid, mean2, rstd2, fc1) = (views[4], views[5], views[6], views[7])
    }

    /// The views from input row `inputRow` and output row `outputRow` on, for a backward pass that
    /// covers only the later rows. qkv and the probabilities stay whole: attention reads every row.
    func from(inputRow: Int, outputRow: Int, shape: EncoderBlockShape) -> Self {
        var shifted = self
        (shifted.mean1, shifted.rstd1) = (mean1 + inputRow, rstd1 + inputRow)
        shifted.residualMid = residualMid + outputRow * shape.width
        (shifted.mean2, shifted.rstd2) = (mean2 + outputRow, rstd2 + outputRow)
        shifted.fc1 = fc1 + outputRow * shape.intermediate
        return shifted
    }
}

/// Buffers a block's forward overwrites and nothing reads afterwards, shared by all blocks.
struct EncoderBlockScratch: @unchecked Sendable {
    private let storage: FloatBuffer
    let normed, attended, activated: FloatPointer

    init(_ s: EncoderActivationSizes) {
        let (storage, views) = slab([s.normed, s.attended, s.activated])
        self.storage = storage
        (normed, attended, activated) = (views[0], views[1], views[2])
    }
}

/// Gradient buffers of one block's backward, shared by all blocks.
struct EncoderBlockGradients: @unchecked Sendable {
    private let storage: FloatBuffer
    let dNormed, dQKV, dFC1, dActivated: FloatPointer

    init(_ s: EncoderActivationSizes) {
        let (storage, views) = slab([s.dNormed, s.dQKV, s.dFC1, s.dActivated])
        self.storage = storage
        (dNormed, dQKV, dFC1, dActivated) = (views[0], views[1], views[2], views[3])
    }
}

/// Which rows a tower's attention kernel wrote to `attended`.
enum AttendedRows {
    /// Every row, [n, W].
    case all
    /// The block's output rows only, [m, W] in their order.
    case outputRows
}

/// rows out [i] = inp [rows[i]], each of width w.
func gatherRows(_ out: FloatPointer, _ inp: ConstFloatPointer, rows: [Int], width w: Int) {
    for (i, row) in rows.enumerated() { (out + i * w).update(from: inp + row * w, count: w) }
}

extension CLIPEncoderLayerWeights {
    /// out [m, W] = block(inp [n, W]) at `outputRows` (every row when nil, m = n); out may alias inp.
    /// With `bf16`, the four linear layers multiply in bf16 (fp32 accumulation).
    /// `attention(qkv [n, 3W], probabilities, attended)` is the tower's attention: it writes the
    /// attention output of every row or of the output rows only, says which, and may keep
    /// probabilities for its backward in `kept.probabilities`.
    func forward(
        out: FloatPointer, inp: ConstFloatPointer, rows n: Int, outputRows: [Int]?,
        kept a: EncoderBlockActivations, scratch s: EncoderBlockScratch, shape: EncoderBlockShape, bf16: EncoderLayerBF16? = nil,
        attention: (_ qkv: ConstFloatPointer, _ probabilities: FloatPointer, _ attended: FloatPointer) -> AttendedRows
    ) {
        let (w, inner, eps) = (shape.width, shape.intermediate, shape.layerNormEpsilon)
        let m = outputRows?.count ?? n
        let pool: ThreadPool = bf16 == nil ? .dispatch : .openMP

        // Attention branch: mid = x + out_proj(attention(ln_1(x))).
        parallelChunks(n, minimumChunk: 16, on: pool) { r in
            layerNormForward(out: s.normed + r.lowerBound * w, mean: a.mean1 + r.lowerBound, rstd: a.rstd1 + r.lowerBound,
                             inp: inp + r.lowerBound * w, weight: layerNorm1Weight, bias: layerNorm1Bias,
                             n: r.count, c: w, eps: eps)
        }
        linearForward(out: a.qkv, inp: s.normed, weight: qkvWeight, bf16: bf16?.qkv, bias: qkvBias, n: n, c: w, oc: 3 * w)
        let written = attention(ConstFloatPointer(a.qkv), a.probabilities, s.attended)
        var attended = ConstFloatPointer(s.attended), residual = inp
        if let outputRows {
            if written == .all {
                // ln_1's output is dead once qkv is made, so its buffer holds the gathered rows.
                gatherRows(s.normed, s.attended, rows: outputRows, width: w)
                attended = ConstFloatPointer(s.normed)
            }
            gatherRows(a.residualMid, inp, rows: outputRows, width: w)
            residual = ConstFloatPointer(a.residualMid)
        }
        linearForward(out: a.residualMid, inp: attended, weight: outWeight, bf16: bf16?.out, bias: outBias, residual: residual, n: m, c: w, oc: w)

        // MLP branch: out = mid + fc2(act(fc1(ln_2(mid)))).
        parallelChunks(m, minimumChunk: 16, on: pool) { r in
            layerNormForward(out: s.normed + r.lowerBound * w, mean: a.mean2 + r.lowerBound, rstd: a.rstd2 + r.lowerBound,
                             inp: a.residualMid + r.lowerBound * w, weight: layerNorm2Weight, bias: layerNorm2Bias,
                             n: r.count, c: w, eps: eps)
        }
        linearForward(out: a.fc1, inp: s.normed, weight: fc1Weight, bf16: bf16?.fc1, bias: fc1Bias, n: m, c: w, oc: inner)
        // Out of place: with out == inp the vectoriser's overlap check fails and the loop runs
        // scalar (measured: QuickGELU took 9% of the image tower's time in place).
        let activation = shape.activation
        parallelChunks(m * inner, minimumChunk: 4096, on: pool) { r in
            let (out, inp) = (s.activated + r.lowerBound, a.fc1 + r.lowerBound)
            switch activation {
            case .quickGELU: quickGELUForward(out: out, inp: inp, n: r.count)
            case .gelu: geluForward(out: out, inp: inp, n: r.count)
            }
        }
        linearForward(out: out, inp: s.activated, weight: fc2Weight, bf16: bf16?.fc2, bias: fc2Bias, residual: a.residualMid, n: m, c: inner, oc: w)
    }

    /// dInp [n, W] += d(block)/d(inp) applied to dOut [m, W], the gradient of the output at
    /// `outputRows` (every row when nil; dOut may then be dInp itself, which carries the residual
    /// path). dOut is overwritten (it ends as the gradient of mid). Output rows outside 0..<n get
    /// no gradient: they lie before the rows this pass differentiates. `inp` and `kept` are the
    /// forward's, shifted to the same first row as dInp. `attentionBackward(dqkv [n, 3W],
    /// dAttended [n, W])` adds the tower's attention gradient into dqkv.
    func backward(
        dInp: FloatPointer, dOut: FloatPointer, inp: ConstFloatPointer, rows n: Int, outputRows: [Int]?,
        kept a: EncoderBlockActivations, gradients g: EncoderBlockGradients, shape: EncoderBlockShape, bf16: EncoderLayerBF16? = nil,
        attentionBackward: (_ dqkv: FloatPointer, _ dAttended: ConstFloatPointer) -> Void
    ) {
        let (w, inner) = (shape.width, shape.intermediate)
        let m = outputRows?.count ?? n
        let pool: ThreadPool = bf16 == nil ? .dispatch : .openMP

        // MLP branch; the residual path's gradient flows straight on and gains the branch's.
        g.dActivated.update(repeating: 0, count: m * inner)
        linearBackward(dinp: g.dActivated, dout: dOut, weight: fc2Weight, bf16: bf16?.fc2, n: m, c: inner, oc: w)
        g.dFC1.update(repeating: 0, count: m * inner)
        let activation = shape.activation
        parallelChunks(m * inner, minimumChunk: 4096, on: pool) { r in
            let (d, dout, x) = (g.dFC1 + r.lowerBound, g.dActivated + r.lowerBound, a.fc1 + r.lowerBound)
            switch activation {
            case .quickGELU: quickGELUBackward(dinp: d, dout: dout, inp: x, n: r.count)
            case .gelu: geluBackward(dinp: d, dout: dout, inp: x, n: r.count)
            }
        }
        g.dNormed.update(repeating: 0, count: m * w)
        linearBackward(dinp: g.dNormed, dout: g.dFC1, weight: fc1Weight, bf16: bf16?.fc1, n: m, c: w, oc: inner)
        parallelChunks(m, minimumChunk: 16, on: pool) { r in
            layerNormBackward(dinp: dOut + r.lowerBound * w, dout: g.dNormed + r.lowerBound * w,
                              inp: a.residualMid + r.lowerBound * w, weight: layerNorm2Weight,
                              mean: a.mean2 + r.lowerBound, rstd: a.rstd2 + r.lowerBound, n: r.count, c: w)
        }

        // Attention branch: out_proj on the output rows, then back to all rows.
        g.dNormed.update(repeating: 0, count: m * w)
        linearBackward(dinp: g.dNormed, dout: dOut, weight: outWeight, bf16: bf16?.out, n: m, c: w, oc: w)
        if let outputRows {
            // Scatter the output rows' gradients (residual path and attention output) to their rows.
            let dAttendedRows = FloatBuffer(count: m * w)
            dAttendedRows.pointer.update(from: g.dNormed, count: m * w)
            g.dNormed.update(repeating: 0, count: n * w)
            for (i, row) in outputRows.enumerated() where row >= 0 && row < n {
                let (dInpRow, dAttended) = (dInp + row * w, g.dNormed + row * w)
                let (dOutRow, dAttendedRow) = (dOut + i * w, dAttendedRows.pointer + i * w)
                for j in 0..<w {
                    dInpRow[j] += dOutRow[j]
                    dAttended[j] += dAttendedRow[j]
                }
            }
        } else if dInp != dOut {
            for j in 0..<(n * w) { dInp[j] += dOut[j] }
        }
        g.dQKV.update(repeating: 0, count: n * 3 * w)
        attentionBackward(g.dQKV, ConstFloatPointer(g.dNormed))
        g.dNormed.update(repeating: 0, count: n * w)
        linearBackward(dinp: g.dNormed, dout: g.dQKV, weight: qkvWeight, bf16: bf16?.qkv, n: n, c: w, oc: 3 * w)
        parallelChunks(n, minimumChunk: 16, on: pool) { r in
            layerNormBackward(dinp: dInp + r.lowerBound * w, dout: g.dNormed + r.lowerBound * w,
                              inp: inp + r.lowerBound * w, weight: layerNorm1Weight,
                              mean: a.mean1 + r.lowerBound, rstd: a.rstd1 + r.lowerBound, n: r.count, c: w)
        }
    }
}
