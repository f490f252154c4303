// The bf16 linear layers: with inputs and weights already bf16-exact, the products must equal
// a Double reference to fp32 accumulation's rounding (1e-5 relative), which is what proves the
// accumulation is fp32; with fp32 inputs, the error is bf16's rounding of the inputs (2^-9
// relative per factor, about 4e-3 of the largest output at these sizes, asserted below 1e-2).

import Foundation
import Testing

@testable import Kernels

@Suite(.enabled(if: BF16Support.isAvailable, "needs a CPU with AVX512-BF16 or AMX"))
struct BF16Tests {
    /// out [n, oc] = residual + inp @ weight^T + bias, in Double.
    func reference(_ inp: [Float], _ weight: [Float], bias: [Float]?, residual: [Float]?, n: Int, c: Int, oc: Int) -> [Float] {
        (0..<(n * oc)).map { index in
            let (row, o) = (index / oc, index % oc)
            var sum = Double(bias?[o] ?? 0) + Double(residual?[index] ?? 0)
            for i in 0..<c { sum += Double(inp[row * c + i]) * Double(weight[o * c + i]) }
            return Float(sum)
        }
    }

    @Test func roundingIsToNearestEven() {
        #expect(bf16Rounded(1) == 1)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        #expect(bf16Rounded(1 + 0x1p-8) == 1)
        #expect(bf16Rounded(1 + 0x1p-7 + 0x1p-8) == 1 + 0x1p-6)
        #expect(bf16Rounded(1 + 0x1p-8 + 0x1p-12) == 1 + 0x1p-7)
        #expect(bf16Rounded(-3.140625) == -3.140625)
        #expect(bf16Rounded(.infinity) == .infinity)
        #expect(bf16Rounded(.nan).isNaN)
    }

    @Test(arguments: [(1, 7, 5), (37, 64, 96), (77, 256, 768), (1100, 24, 40)])
    func forwardAccumulatesInFP32(n: Int, c: Int, oc: Int) {
        var g = Generator(state: UInt64(n * 1000 + c))
        let inp = g.values(n * c).map(bf16Rounded), weight = g.values(oc * c, scale: 0.1).map(bf16Rounded)
        let bias = g.values(oc), residual = g.values(n * oc)
        for (useBias, useResidual) in [(false, false), (true, false), (false, true), (true, true)] {
            var out = [Float](repeating: .nan, count: n * oc)
            matmulForward(out: &out, inp: inp, weight: BF16Matrix(weight, rows: oc, columns: c),
                          bias: useBias ? bias : nil, residual: useResidual ? residual : nil, n: n)
            let expected = reference(inp, weight, bias: useBias ? bias : nil, residual: useResidual ? residual : nil, n: n, c: c, oc: oc)
            let (error, index) = worstRelativeError(out, expected)
            #expect(error < 1e-5, "bias \(useBias) residual \(useResidual): \(out[index]) vs \(expected[index])")
        }
    }

    @Test(arguments: [(3, 5, 7), (40, 96, 64)])
    func backwardAddsIntoItsGradient(n: Int, c: Int, oc: Int) {
        var g = Generator(state: UInt64(n + 17 * c))
        let dout = g.values(n * oc).map(bf16Rounded), weight = g.values(oc * c, scale: 0.1).map(bf16Rounded)
        let start = g.values(n * c)
        var dinp = start
        matmulBackward(dinp: &dinp, dout: dout, weight: BF16Matrix(weight, rows: oc, columns: c), n: n)
        let expected = (0..<(n * c)).map { index in
            let (row, i) = (index / c, index % c)
            var sum = Double(start[index])
            for o in 0..<oc { sum += Double(dout[row * oc + o]) * Double(weight[o * c + i]) }
            return Float(sum)
        }
        let (error, index) = worstRelativeError(dinp, expected)
        #expect(error < 1e-5, "\(dinp[index]) vs \(expected[index])")
    }

    /// Row counts go through a few fixed tile shapes, so a product of a new row count makes
    /// no new kernel once the tiles' shapes exist.
    @Test func rowCountsShareTheirTilesKernels() {
        let (c, oc) = (8, 12)
        var g = Generator(state: 5)
        let weight = BF16Matrix(g.values(oc * c).map(bf16Rounded), rows: oc, columns: c)
        func product(_ n: Int) {
            let inp = g.values(n * c).map(bf16Rounded)
            var out = [Float](repeating: 0, count: n * oc)
            matmulForward(out: &out, inp: inp, weight: weight, bias: nil, n: n)
        }
        for n in stride(from: 1, through: 1100, by: 64) { product(n) }
        let made = BF16Products.shared.primitiveCount(k: c, n: oc)
        for n in 1...200 { product(n) }
        product(1500)
        #expect(BF16Products.shared.primitiveCount(k: c, n: oc) == made)
        #expect(made <= Int(BF16Products.tileRows / BF16Products.rowStep))
    }

    @Test func fp32InputsLoseOnlyBF16Rounding() {
        let (n, c, oc) = (64, 512, 512)
        var g = Generator(state: 99)
        let inp = g.values(n * c), weight = g.values(oc * c, scale: 0.05)
        var out = [Float](repeating: 0, count: n * oc), exact = out
        matmulForward(out: &out, inp: inp, weight: BF16Matrix(weight, rows: oc, columns: c), bias: nil, n: n)
        matmulForward(out: &exact, inp: inp, weight: weight, bias: nil, n: n, c: c, oc: oc)
        let (error, _) = worstRelativeError(out, exact)
        #expect(error < 1e-2)
        // And it did round: bf16 is not fp32 under another name.
        #expect(error > 1e-5)
    }
}
