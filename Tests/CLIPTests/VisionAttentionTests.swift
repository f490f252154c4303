// The image tower's unmasked attention kernel against a direct double-precision evaluation of
// softmax(q k^T / sqrt(hs)) v, for every query and for the first query only, over several
// sequences and heads (the strided sgemm operands).

import Foundation
import Kernels
import Testing

@testable import CLIP

/// out [B*Q, W] of the definition, in Double.
private func directAttention(qkv: [Float], sequences: Int, length t: Int, queries: Int, heads: Int, width: Int) -> [Float] {
    let hs = width / heads, stride = 3 * width
    var out = [Float](repeating: 0, count: sequences * queries * width)
    for b in 0..<sequences {
        for h in 0..<heads {
            for j in 0..<queries {
                let q = (b * t + j) * stride + h * hs
                let scores = (0..<t).map { r -> Double in
                    let k = (b * t + r) * stride + width + h * hs
                    return (0..<hs).reduce(0.0) { $0 + Double(qkv[q + $1]) * Double(qkv[k + $1]) } / Double(hs).squareRoot()
                }
                let top = scores.max()!
                let weights = scores.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for i in 0..<hs {
                    var sum = 0.0
                    for r in 0..<t { sum += weights[r] / total * Double(qkv[(b * t + r) * stride + 2 * width + h * hs + i]) }
                    out[(b * queries + j) * width + h * hs + i] = Float(sum)
                }
            }
        }
    }
    return out
}

@Test(arguments: [(1, 1), (3, 3), (7, 7), (7, 1), (17, 17), (17, 1)])
func bidirectionalAttentionMatchesDefinition(length: Int, queries: Int) {
    let (sequences, heads, width) = (3, 2, 8)
    var rng = SplitMix64(seed: UInt64(length * 100 + queries))
    let qkv = (0..<(sequences * length * 3 * width)).map { _ in 2 * rng.nextGaussian() }
    var out = [Float](repeating: .nan, count: sequences * queries * width)
    bidirectionalAttentionForward(out: &out, qkv: qkv, sequences: sequences, sequenceLength: length,
                                  queries: queries, heads: heads, width: width)
    let expected = directAttention(qkv: qkv, sequences: sequences, length: length, queries: queries, heads: heads, width: width)
    expectRelativeClose(out, expected, tolerance: 1e-6, "attention T=\(length) Q=\(queries)")
}
