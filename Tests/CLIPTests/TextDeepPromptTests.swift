// MaPLe's deep text prompts on a random tiny tower (TextTowerGradientTests' checkpoint, 2 blocks):
// the rows they replace, their gradient against central finite differences, and the refusals.

import Foundation
import Testing

@testable import CLIP
@testable import Kernels

/// Prompts as MaPLe lays them out: SOT, two context vectors at positions 1-2, words, EOT; a
/// prompt that shares the frozen SOT and one that reads a third vector after the context.
private let deepPrompts: [PromptRows] = [
    PromptRows([.token(1), .vector(index: 0), .vector(index: 1), .token(3), .token(5), .token(39)]),
    PromptRows([.token(1), .vector(index: 0), .vector(index: 1), .token(4), .token(39)]),
    PromptRows([.token(1), .vector(index: 0), .vector(index: 1), .vector(index: 2), .token(6), .token(39)]),
]

private func randomValues(_ count: Int, _ rng: inout SplitMix64, scale: Float = 0.3) -> [Float] {
    (0..<count).map { _ in scale * rng.nextGaussian() }
}

@Test func deepPromptsReplaceTheContextRowsEnteringBlockOne() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    var rng = SplitMix64(seed: 5)
    let vectors = randomValues(3 * 16, &rng)
    let deep = TextDeepPrompts(firstPosition: 1, count: 2, layers: [randomValues(2 * 16, &rng)])
    let withDeep = try tower.forward(deepPrompts, vectors: vectors, deep: deep).features
    let without = try tower.forward(deepPrompts, vectors: vectors).features
    #expect(zip(withDeep, without).contains { abs($0 - $1) > 1e-3 }, "a deep prompt must change the features")

    // The context still reaches the features through block 0, whose later rows attend to it.
    var otherVectors = vectors
    // (Not a constant shift: ln_1 is blind to one, and the shifted rows themselves are replaced.)
    for i in 0..<(2 * 16) { otherVectors[i] += 0.5 * rng.nextGaussian() }
    let moved = try tower.forward(deepPrompts, vectors: otherVectors, deep: deep).features
    #expect(zip(withDeep, moved).contains { abs($0 - $1) > 1e-4 })

    // Chunked evaluation gives the training forward's features.
    let evaluated = try tower.features(deepPrompts, vectors: vectors, deep: deep)
    expectRelativeClose(evaluated, withDeep, tolerance: 1e-6, "features(_:vectors:deep:) vs forward")
}

@Test func deepPromptGradientsMatchFiniteDifferences() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    var rng = SplitMix64(seed: 9)
    let vectors = randomValues(3 * 16, &rng)
    let deepValues = randomValues(2 * 16, &rng)
    let weights = randomValues(deepPrompts.count * 8, &rng, scale: 1)
    func loss(_ vectors: [Float], _ deepValues: [Float]) throws -> Double {
        let state = try tower.forward(deepPrompts, vectors: vectors,
                                      deep: TextDeepPrompts(firstPosition: 1, count: 2, layers: [deepValues]))
        return zip(state.normalizedFeatures, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let state = try tower.forward(deepPrompts, vectors: vectors, deep: TextDeepPrompts(firstPosition: 1, count: 2, layers: [deepValues]))
    let analytic = try tower.gradients(state, dNormalizedFeatures: weights)
    #expect(analytic.deep.count == 1)

    let h: Float = 1e-2
    func numerical(_ values: [Float], _ f: ([Float]) throws -> Double) rethrows -> [Float] {
        var x = values
        return try values.indices.map { i in
            x[i] = values[i] + h
            let plus = try f(x)
            x[i] = values[i] - h
            let minus = try f(x)
            x[i] = values[i]
            return Float((plus - minus) / Double(2 * h))
        }
    }
    expectRelativeClose(analytic.vectors, try numerical(vectors) { try loss($0, deepValues) }, tolerance: 2e-3,
                        "vectors under deep prompts vs finite differences")
    expectRelativeClose(analytic.deep[0], try numerical(deepValues) { try loss(vectors, $0) }, tolerance: 2e-3,
                        "deep prompt vs finite differences")
}

@Test func deepPromptsAreRefusedWhereBackwardCannotReach() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    let frozen = [PromptRows([.token(1), .token(2), .token(3), .vector(index: 0), .token(39)])]
    let vectors = [Float](repeating: 0.1, count: 16)
    // Positions 1-2 hold frozen words shared before the first vector: their gradient is never computed.
    #expect(throws: TextTowerError.self) {
        try tower.forward(frozen, vectors: vectors, deep: TextDeepPrompts(firstPosition: 1, count: 2, layers: [[Float](repeating: 0, count: 32)]))
    }
    // A 2-block tower takes one block of deep prompts at most, of count x width floats.
    let two = TextDeepPrompts(firstPosition: 1, count: 2, layers: [[Float](repeating: 0, count: 32), [Float](repeating: 0, count: 32)])
    #expect(throws: TextTowerError.self) { try tower.forward(deepPrompts, vectors: [Float](repeating: 0, count: 48), deep: two) }
    let short = TextDeepPrompts(firstPosition: 1, count: 2, layers: [[Float](repeating: 0, count: 31)])
    #expect(throws: TextTowerError.self) { try tower.forward(deepPrompts, vectors: [Float](repeating: 0, count: 48), deep: short) }
}
