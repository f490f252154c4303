// Per-layer checks in the manner of llm.c's doc/layernorm: each forward against a direct
// formula in Double, each backward against central finite differences of
// loss = sum(out * probe) with a random probe. The step is h = 1e-2 in Float32; the
// finite-difference error and the Float32 rounding then stay below 1e-3 of the largest
// gradient, which is the tolerance used (relative to the tensor's max abs value).

import Foundation
import Testing

@testable import Kernels

struct Generator {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
    }
    mutating func values(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
}

/// Largest |a - b| relative to max |b|, and where.
func worstRelativeError(_ a: [Float], _ b: [Float]) -> (error: Float, index: Int) {
    precondition(a.count == b.count)
    let scale = max(b.map(abs).max() ?? 0, 1e-30)
    var worst: (Float, Int) = (0, 0)
    for i in a.indices where abs(a[i] - b[i]) / scale > worst.0 { worst = (abs(a[i] - b[i]) / scale, i) }
    return worst
}

/// Central differences of loss(x) = sum(f(x) * probe) with respect to x.
func numericalGradient(_ x: [Float], probe: [Float], step h: Float = 1e-2, _ f: ([Float]) -> [Float]) -> [Float] {
    func loss(_ y: [Float]) -> Double { zip(f(y), probe).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
    var x = x
    var gradient = [Float](repeating: 0, count: x.count)
    for i in x.indices {
        let saved = x[i]
        x[i] = saved + h
        let plus = loss(x)
        x[i] = saved - h
        let minus = loss(x)
        x[i] = saved
        gradient[i] = Float((plus - minus) / Double(2 * h))
    }
    return gradient
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String) {
    let (error, index) = worstRelativeError(actual, expected)
    #expect(error <= tolerance, "\(what): worst relative error \(error) at \(index): \(actual[index]) vs \(expected[index])")
}

@Test func layerNormMatchesFormulaAndFiniteDifferences() {
    var g = Generator(state: 1)
    let (n, c) = (3, 7)
    let x = g.values(n * c, scale: 2), weight = g.values(c), bias = g.values(c)
    func forward(_ x: [Float]) -> (out: [Float], mean: [Float], rstd: [Float]) {
        var out = [Float](repeating: 0, count: n * c), mean = [Float](repeating: 0, count: n), rstd = mean
        layerNormForward(out: &out, mean: &mean, rstd: &rstd, inp: x, weight: weight, bias: bias, n: n, c: c, eps: 1e-5)
        return (out, mean, rstd)
    }
    let (out, mean, rstd) = forward(x)
    var expected = [Float]()
    for r in 0..<n {
        let row = x[(r * c)..<((r + 1) * c)].map(Double.init)
        let m = row.reduce(0, +) / Double(c)
        let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(c)
        expected += row.enumerated().map { Float(($1 - m) / (v + 1e-5).squareRoot() * Double(weight[$0]) + Double(bias[$0])) }
    }
    expectClose(out, expected, tolerance: 1e-6, "layernorm forward")

    let probe = g.values(n * c)
    var dx = [Float](repeating: 0.25, count: n * c)  // backward accumulates onto what is there
    layerNormBackward(dinp: &dx, dout: probe, inp: x, weight: weight, mean: mean, rstd: rstd, n: n, c: c)
    let numerical = numericalGradient(x, probe: probe) { forward($0).out }
    expectClose(dx.map { $0 - 0.25 }, numerical, tolerance: 1e-3, "layernorm backward")
}

@Test func matmulMatchesNaiveProducts() {
    var g = Generator(state: 2)
    let (n, c, oc) = (5, 6, 4)
    let x = g.values(n * c), weight = g.values(oc * c), bias = g.values(oc)
    var out = [Float](repeating: 9, count: n * oc)
    matmulForward(out: &out, inp: x, weight: weight, bias: bias, n: n, c: c, oc: oc)
    var expected = [Float](repeating: 0, count: n * oc)
    for i in 0..<n { for o in 0..<oc {
        expected[i * oc + o] = bias[o] + (0..<c).reduce(Float(0)) { $0 + x[i * c + $1] * weight[o * c + $1] }
    } }
    expectClose(out, expected, tolerance: 1e-6, "matmul forward")
    var noBias = [Float](repeating: 9, count: n * oc)
    matmulForward(out: &noBias, inp: x, weight: weight, bias: nil, n: n, c: c, oc: oc)
    expectClose(noBias, zip(expected, (0..<(n * oc)).map { bias[$0 % oc] }).map { $0 - $1 }, tolerance: 1e-6, "matmul without bias")

    let probe = g.values(n * oc)
    var dx = [Float](repeating: 1, count: n * c)
    matmulBackward(dinp: &dx, dout: probe, weight: weight, n: n, c: c, oc: oc)
    let numerical = numericalGradient(x, probe: probe) { x in
        var out = [Float](repeating: 0, count: n * oc)
        matmulForward(out: &out, inp: x, weight: weight, bias: bias, n: n, c: c, oc: oc)
        return out
    }
    expectClose(dx.map { $0 - 1 }, numerical, tolerance: 1e-3, "matmul backward")
}

/// The weight and bias gradients of a trained linear map, accumulated onto what was there.
@Test func matmulWeightBackwardMatchesFiniteDifferences() {
    var g = Generator(state: 4)
    let (n, c, oc) = (3, 5, 4)
    let x = g.values(n * c), weight = g.values(oc * c), bias = g.values(oc), probe = g.values(n * oc)
    var dWeight = [Float](repeating: 1, count: oc * c), dBias = [Float](repeating: 1, count: oc)
    matmulWeightBackward(dweight: &dWeight, dbias: &dBias, dout: probe, inp: x, n: n, c: c, oc: oc)
    let numericalWeight = numericalGradient(weight, probe: probe) { w in
        var out = [Float](repeating: 0, count: n * oc)
        matmulForward(out: &out, inp: x, weight: w, bias: bias, n: n, c: c, oc: oc)
        return out
    }
    let numericalBias = numericalGradient(bias, probe: probe) { b in
        var out = [Float](repeating: 0, count: n * oc)
        matmulForward(out: &out, inp: x, weight: weight, bias: b, n: n, c: c, oc: oc)
        return out
    }
    expectClose(dWeight.map { $0 - 1 }, numericalWeight, tolerance: 1e-3, "matmul weight gradient")
    expectClose(dBias.map { $0 - 1 }, numericalBias, tolerance: 1e-3, "matmul bias gradient")
}

/// Cross-entropy against its definition in Double, its gradient against central differences,
/// and logits of CLIP's scale (100) that a naive softmax would overflow.
@Test func softmaxCrossEntropyMatchesDefinitionAndFiniteDifferences() {
    var g = Generator(state: 6)
    let (b, c) = (4, 5)
    let logits = g.values(b * c, scale: 3), labels = [0, 3, 4, 3]
    let (loss, dLogits) = softmaxCrossEntropy(logits: logits, labels: labels, classes: c)
    func expected(_ z: [Float]) -> Double {
        (0..<b).map { s -> Double in
            let row = (0..<c).map { Double(z[s * c + $0]) }
            return log(row.map(exp).reduce(0, +)) - row[labels[s]]
        }.reduce(0, +) / Double(b)
    }
    #expect(abs(Double(loss) - expected(logits)) <= 1e-6 * expected(logits))
    let numerical = numericalGradient(logits, probe: [1], step: 1e-2) { [Float(expected($0))] }
    expectClose(dLogits, numerical, tolerance: 1e-3, "cross-entropy gradient")
    let (large, _) = softmaxCrossEntropy(logits: logits.map { $0 * 100 }, labels: labels, classes: c)
    #expect(large.isFinite && large > 0)
    let logP = logSoftmax(logits, rows: b, columns: c, temperature: 2)
    for s in 0..<b { #expect(abs((0..<c).map { exp(logP[s * c + $0]) }.reduce(0, +) - 1) < 1e-6) }
}

@Test(arguments: ["quick_gelu", "gelu"])
func activationsMatchFormulaAndFiniteDifferences(_ name: String) {
    var g = Generator(state: 3)
    let x = g.values(40, scale: 4)
    let forward: ([Float]) -> [Float] = { x in
        var out = [Float](repeating: 0, count: x.count)
        if name == "gelu" { geluForward(out: &out, inp: x, n: x.count) } else { quickGELUForward(out: &out, inp: x, n: x.count) }
        return out
    }
    let expected = x.map { x -> Float in
        let d = Double(x)
        return Float(name == "gelu" ? 0.5 * d * (1 + erf(d / 2.0.squareRoot())) : d / (1 + Foundation.exp(-1.702 * d)))
    }
    expectClose(forward(x), expected, tolerance: 1e-6, "\(name) forward")
    let probe = g.values(40)
    var dx = [Float](repeating: 0, count: 40)
    if name == "gelu" { geluBackward(dinp: &dx, dout: probe, inp: x, n: 40) } else { quickGELUBackward(dinp: &dx, dout: probe, inp: x, n: 40) }
    expectClose(dx, numericalGradient(x, probe: probe, step: 1e-3, forward), tolerance: 1e-3, "\(name) backward")
}

@Test func residualBackwardAccumulatesIntoBoth() {
    var out = [Float](repeating: 0, count: 3)
    residualForward(out: &out, a: [1, 2, 3], b: [10, 20, 30], n: 3)
    #expect(out == [11, 22, 33])
    var da: [Float] = [1, 1, 1], db: [Float] = [0, 0, 0]
    residualBackward(da: &da, db: &db, dout: [0.5, -1, 2], n: 3)
    #expect(da == [1.5, 0, 3] && db == [0.5, -1, 2])
}

@Test func l2NormalizeMatchesFiniteDifferences() {
    var g = Generator(state: 4)
    let x = g.values(12, scale: 3)
    let (out, norms) = l2Normalize(x, rows: 3, columns: 4)
    for r in 0..<3 {
        let length = out[(r * 4)..<((r + 1) * 4)].reduce(0) { $0 + $1 * $1 }
        #expect(abs(length - 1) < 1e-6)
    }
    let probe = g.values(12)
    let dx = l2NormalizeBackward(dOut: probe, out: out, norms: norms, columns: 4)
    let numerical = numericalGradient(x, probe: probe, step: 1e-3) { l2Normalize($0, rows: 3, columns: 4).out }
    expectClose(dx, numerical, tolerance: 1e-3, "l2 normalise backward")
}

/// Direct causal attention of one sequence in Double: [L, 3W] -> [L, W].
func referenceAttention(_ qkv: [Float], length: Int, heads: Int, width: Int) -> [Float] {
    let hs = width / heads
    var out = [Float](repeating: 0, count: length * width)
    for h in 0..<heads { for i in 0..<length {
        var scores = [Double]()
        for j in 0...i {
            var dot = 0.0
            for d in 0..<hs { dot += Double(qkv[i * 3 * width + h * hs + d]) * Double(qkv[j * 3 * width + width + h * hs + d]) }
            scores.append(dot / Double(hs).squareRoot())
        }
        let m = scores.max()!
        let e = scores.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        for d in 0..<hs {
            var v = 0.0
            for j in 0...i { v += e[j] / s * Double(qkv[j * 3 * width + 2 * width + h * hs + d]) }
            out[i * width + h * hs + d] = Float(v)
        }
    } }
    return out
}

/// Two sequences [p0 p1 a0 a1 a2] and [p0 p1 b0 b1] sharing the prefix p0 p1, packed as
/// rows 0-1 (prefix), 2-4 (a), 5-6 (b).
func sharedPrefixSegments(heads: Int) -> [AttentionSegment] {
    var segments = [
        AttentionSegment(start: 0, count: 2, prefixRows: [], attentionOffset: 0),
        AttentionSegment(start: 2, count: 3, prefixRows: [0, 1], attentionOffset: 0),
        AttentionSegment(start: 5, count: 2, prefixRows: [0, 1], attentionOffset: 0),
    ]
    var offset = 0
    for i in segments.indices {
        segments[i].attentionOffset = offset
        offset += segments[i].attentionSize(heads: heads)
    }
    return segments
}

@Test func attentionWithSharedPrefixEqualsSeparateSequences() {
    var g = Generator(state: 5)
    let (heads, width) = (2, 8)
    let qkv = g.values(7 * 3 * width)
    let segments = sharedPrefixSegments(heads: heads)
    var out = [Float](repeating: 0, count: 7 * width)
    var att = [Float](repeating: 0, count: segments.map { $0.attentionSize(heads: heads) }.reduce(0, +))
    attentionForward(out: &out, att: &att, qkv: qkv, segments: segments[...], heads: heads, width: width)
    let rowsA = [0, 1, 2, 3, 4], rowsB = [0, 1, 5, 6]
    for rows in [rowsA, rowsB] {
        let sequence = rows.flatMap { qkv[($0 * 3 * width)..<(($0 + 1) * 3 * width)] }
        let expected = referenceAttention(sequence, length: rows.count, heads: heads, width: width)
        let actual = rows.flatMap { out[($0 * width)..<(($0 + 1) * width)] }
        expectClose(actual, expected, tolerance: 1e-6, "attention of rows \(rows)")
    }
}

@Test(arguments: [0, 2])
func attentionBackwardMatchesFiniteDifferences(firstGradientRow: Int) {
    var g = Generator(state: 6)
    let (heads, width, rows) = (2, 8, 7)
    let qkv = g.values(rows * 3 * width)
    let segments = sharedPrefixSegments(heads: heads)
    let attSize = segments.map { $0.attentionSize(heads: heads) }.reduce(0, +)
    func forward(_ qkv: [Float]) -> ([Float], [Float]) {
        var out = [Float](repeating: 0, count: rows * width), att = [Float](repeating: 0, count: attSize)
        attentionForward(out: &out, att: &att, qkv: qkv, segments: segments[...], heads: heads, width: width)
        return (out, att)
    }
    let (_, att) = forward(qkv)
    // The loss reads only rows from firstGradientRow on, as the text tower's backward does.
    var probe = g.values(rows * width)
    for i in 0..<(firstGradientRow * width) { probe[i] = 0 }
    var dqkv = [Float](repeating: 0, count: (rows - firstGradientRow) * 3 * width)
    attentionBackward(dqkv: &dqkv, dout: Array(probe[(firstGradientRow * width)...]), qkv: qkv, att: att,
                      segments: segments[...], heads: heads, width: width, firstGradientRow: firstGradientRow)
    let numerical = numericalGradient(qkv, probe: probe, step: 1e-2) { forward($0).0 }
    // Rows before firstGradientRow (a frozen prefix) get no gradient by design.
    expectClose(dqkv, Array(numerical[(firstGradientRow * 3 * width)...]), tolerance: 1e-3, "attention backward")
}

@Test func fastExpMatchesLibm() {
    var worst: Float = 0, worstAt: Float = 0
    var x: Float = -87
    while x <= 88 {
        let error = abs(fastExp(x) - Foundation.exp(x)) / Foundation.exp(x)
        if error > worst { (worst, worstAt) = (error, x) }
        x += 0.00173
    }
    #expect(worst < 4e-7, "worst relative error of fastExp \(worst) at \(worstAt)")
}

@Test func matmulFoldsTheResidualIn() {
    var g = Generator(state: 8)
    let (n, c, oc) = (4, 6, 5)
    let x = g.values(n * c), weight = g.values(oc * c), bias = g.values(oc), residual = g.values(n * oc)
    var plain = [Float](repeating: 0, count: n * oc)
    matmulForward(out: &plain, inp: x, weight: weight, bias: bias, n: n, c: c, oc: oc)
    var folded = [Float](repeating: 0, count: n * oc)
    matmulForward(out: &folded, inp: x, weight: weight, bias: bias, residual: residual, n: n, c: c, oc: oc)
    expectClose(folded, zip(plain, residual).map { $0 + $1 }, tolerance: 1e-6, "matmul with residual")
    // In place: the residual stream is its own output.
    var stream = residual
    stream.withUnsafeMutableBufferPointer { s in
        matmulForward(out: s.baseAddress!, inp: x, weight: weight, bias: nil, residual: s.baseAddress!, n: n, c: c, oc: oc)
    }
    var noBias = [Float](repeating: 0, count: n * oc)
    matmulForward(out: &noBias, inp: x, weight: weight, bias: nil, n: n, c: c, oc: oc)
    expectClose(stream, zip(noBias, residual).map { $0 + $1 }, tolerance: 1e-6, "matmul with residual in place")
}
