// The whole tower's backward against central finite differences, on a random tiny tower
// built here (independent of the fixtures). Loss = sum_p dot(normalize(f_p), w_p).
// Step h = 1e-2 on the Float32 vectors; tolerance 2e-3 of the largest gradient component
// (the O(h^2) truncation error and Float32 rounding of the loss divided by 2h both stay below it).

import Foundation
import Testing

@testable import CLIP
@testable import Kernels

/// A tiny random tower whose weights are large enough (std 0.2) to make every layer non-linear.
func tinyRandomCheckpoint(activation: CLIPActivation, seed: UInt64 = 7) -> CLIPCheckpoint {
    let text = CLIPTextConfiguration(
        vocabularySize: 40, hiddenSize: 16, intermediateSize: 48, hiddenLayers: 2, attentionHeads: 4,
        maxPositions: 12, hiddenActivation: activation, layerNormEpsilon: 1e-5)
    var checkpoint = CLIPCheckpoint.random(configuration: CLIPConfiguration(text: text, projectionDim: 8), seed: seed)
    func scaled(_ x: [Float]) -> [Float] { x.map { $0 * 10 } }
    checkpoint.text.tokenEmbedding = scaled(checkpoint.text.tokenEmbedding)
    checkpoint.text.layers = checkpoint.text.layers.map { layer in
        var layer = layer
        layer.qkvWeight = scaled(layer.qkvWeight)
        layer.outWeight = scaled(layer.outWeight)
        layer.fc1Weight = scaled(layer.fc1Weight)
        layer.fc2Weight = scaled(layer.fc2Weight)
        return layer
    }
    return checkpoint
}

/// Prompts that share frozen prefixes, reuse a vector twice, start with a vector, and include a frozen prompt.
let gradientTestPrompts: [PromptRows] = [
    PromptRows([.token(1), .token(2), .token(3), .vector(index: 0), .vector(index: 1), .token(39)]),
    PromptRows([.token(1), .token(2), .token(3), .vector(index: 2), .token(39)]),
    PromptRows([.token(1), .token(2), .token(4), .vector(index: 0), .token(39)]),
    PromptRows([.token(1), .token(2), .token(3), .token(5), .token(39)]),
    PromptRows([.vector(index: 3), .token(2), .token(39)]),
]

@Test(arguments: [CLIPActivation.quickGELU, .gelu])
func towerBackwardMatchesFiniteDifferences(activation: CLIPActivation) throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: activation))
    var rng = SplitMix64(seed: 11)
    let vectors = (0..<(4 * 16)).map { _ in 0.3 * rng.nextGaussian() }
    let weights = (0..<(gradientTestPrompts.count * 8)).map { _ in rng.nextGaussian() }
    func loss(_ vectors: [Float]) throws -> Double {
        let state = try tower.forward(gradientTestPrompts, vectors: vectors)
        return zip(state.normalizedFeatures, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let state = try tower.forward(gradientTestPrompts, vectors: vectors)
    let analytic = try tower.backward(state, dNormalizedFeatures: weights)

    let h: Float = 1e-2
    var numerical = [Float](repeating: 0, count: vectors.count)
    var x = vectors
    for i in x.indices {
        x[i] = vectors[i] + h
        let plus = try loss(x)
        x[i] = vectors[i] - h
        let minus = try loss(x)
        x[i] = vectors[i]
        numerical[i] = Float((plus - minus) / Double(2 * h))
    }
    expectRelativeClose(analytic, numerical, tolerance: 2e-3, "tower backward (\(activation.rawValue)) vs finite differences")

    // The same through the unnormalised features: dL/df = (w - y (y . w)) / |f|.
    let dFeatures = l2NormalizeBackward(dOut: weights, out: state.normalizedFeatures, norms: state.featureNorms, columns: 8)
    let viaFeatures = try tower.backward(state, dFeatures: dFeatures)
    expectRelativeClose(viaFeatures, analytic, tolerance: 1e-6, "backward(dFeatures:) vs backward(dNormalizedFeatures:)")
}

@Test func packedBatchEqualsPromptsOneByOne() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    var rng = SplitMix64(seed: 3)
    let vectors = (0..<(4 * 16)).map { _ in 0.3 * rng.nextGaussian() }
    let batch = try tower.forward(gradientTestPrompts, vectors: vectors)
    var single: [Float] = []
    for prompt in gradientTestPrompts { single += try tower.forward([prompt], vectors: vectors).features }
    expectRelativeClose(batch.features, single, tolerance: 1e-5, "packed batch vs one by one")

    // The shared prefixes are stored once: 1 2 | 3 | 5 39 | 4 (frozen), then the four tails.
    #expect(batch.statistics.packedRows == 6 + 3 + 2 + 2 + 3)
    #expect(batch.packing.firstTrainableRow == 6)
    // Counted here without a trie: one frozen row per distinct prefix of the prompts' leading
    // token runs, then every row from each prompt's first vector on.
    let frozenRuns = gradientTestPrompts.map { prompt in
        Array(prompt.rows.prefix { if case .token = $0 { true } else { false } })
    }
    let distinctPrefixes = Set(frozenRuns.flatMap { run in run.indices.map { Array(run[...$0]) } })
    let tailRows = zip(gradientTestPrompts, frozenRuns).map { $0.rows.count - $1.count }.reduce(0, +)
    #expect(batch.packing.firstTrainableRow == distinctPrefixes.count)
    #expect(batch.statistics.packedRows == distinctPrefixes.count + tailRows)
    #expect(batch.statistics.packedRows < gradientTestPrompts.map(\.rows.count).reduce(0, +))

    // Backward through the packed batch equals the sum of each prompt's own backward: the
    // shared rows carry every prompt's gradient, and vector 0 (read twice) gets both.
    let dNormalized = (0..<(gradientTestPrompts.count * 8)).map { _ in rng.nextGaussian() }
    let packedGradient = try tower.backward(batch, dNormalizedFeatures: dNormalized)
    var unpackedGradient = [Float](repeating: 0, count: vectors.count)
    for (p, prompt) in gradientTestPrompts.enumerated() {
        let alone = try tower.forward([prompt], vectors: vectors)
        let gradient = try tower.backward(alone, dNormalizedFeatures: Array(dNormalized[(p * 8)..<((p + 1) * 8)]))
        for i in gradient.indices { unpackedGradient[i] += gradient[i] }
    }
    expectRelativeClose(packedGradient, unpackedGradient, tolerance: 1e-5, "packed backward vs prompts one by one")
}

@Test func encodeAndFrozenCacheAgreeWithForward() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .gelu))
    let ids = [[1, 2, 3, 39], [1, 2, 7, 8, 39], [1, 2, 3, 39], [5, 39]]
    let state = try tower.forward(ids.map { PromptRows(tokenIDs: $0) }, vectors: [])
    let encoded = try tower.encode(tokenIDs: ids)
    expectRelativeClose(encoded, state.features, tolerance: 1e-6, "encode vs forward")
    // An identical frozen prompt is computed once: rows 1 2 | 3 39 | 7 8 39 | 5 39.
    #expect(state.statistics.packedRows == 9)
    let normalized = try tower.encode(tokenIDs: ids, normalized: true)
    expectRelativeClose(normalized, state.normalizedFeatures, tolerance: 1e-6, "encode(normalized:)")

    var cache = FrozenTextFeatures()
    let first = try cache.features(tokenIDs: ids, tower: tower)
    #expect(cache.count == 3)
    let second = try cache.features(tokenIDs: [ids[1], [9, 39]], tower: tower)
    #expect(cache.count == 4)
    // The cache packs 3 unique prompts where encode packs 4: sgemm's blocking may then round
    // the last bit differently, so the two paths agree as encode and forward do.
    expectRelativeClose(first, encoded, tolerance: 1e-6, "cached features")
    // A cached prompt is not computed again: its features are the very values returned first.
    expectRelativeClose(Array(second[0..<8]), Array(first[8..<16]), tolerance: 0, "cached features reused")
}

@Test func backwardOfFrozenPromptsIsZero() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    let state = try tower.forward([PromptRows(tokenIDs: [1, 2, 39])], vectors: [Float](repeating: 0.1, count: 16))
    #expect(try tower.backward(state, dFeatures: [Float](repeating: 1, count: 8)) == [Float](repeating: 0, count: 16))
}

@Test func invalidPromptsAreTypedErrors() throws {
    let tower = TextTower(tinyRandomCheckpoint(activation: .quickGELU))
    #expect(throws: TextTowerError.emptyPrompt(prompt: 0)) { try tower.encode(tokenIDs: [[]]) }
    #expect(throws: TextTowerError.promptTooLong(prompt: 1, length: 13, maximum: 12)) {
        try tower.encode(tokenIDs: [[1, 39], [Int](repeating: 1, count: 13)])
    }
    #expect(throws: TextTowerError.tokenOutOfRange(prompt: 0, token: 40, vocabularySize: 40)) { try tower.encode(tokenIDs: [[1, 40]]) }
    #expect(throws: TextTowerError.vectorOutOfRange(prompt: 0, index: 1, available: 1)) {
        try tower.forward([PromptRows([.token(1), .vector(index: 1)])], vectors: [Float](repeating: 0, count: 16))
    }
    #expect(throws: TextTowerError.vectorsNotRows(count: 5, width: 16)) {
        try tower.forward([PromptRows([.token(1)])], vectors: [Float](repeating: 0, count: 5))
    }
    let state = try tower.forward([PromptRows([.token(1), .vector(index: 0)])], vectors: [Float](repeating: 0, count: 16))
    #expect(throws: TextTowerError.gradientSize(count: 3, expected: 8)) { try tower.backward(state, dFeatures: [1, 2, 3]) }
}
