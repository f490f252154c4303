// CLIP's text tower (transformers' CLIPTextTransformer + text_projection; OpenAI clip/model.py
// encode_text): token embeddings + positional embeddings -> N pre-LN residual blocks
// (causal multi-head attention, MLP) -> final LayerNorm -> hidden state at the EOT position
// -> text projection. Forward keeps what backward needs; backward returns the gradient with
// respect to the caller's trainable input rows only (the weights are frozen).
// Layer functions are in the Kernels module (llm.c style); the packing is in PromptPacking.swift.

import Foundation
import Kernels

public enum TextTowerError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case emptyPrompt(prompt: Int)
    case promptTooLong(prompt: Int, length: Int, maximum: Int)
    case tokenOutOfRange(prompt: Int, token: Int, vocabularySize: Int)
    case vectorOutOfRange(prompt: Int, index: Int, available: Int)
    case vectorsNotRows(count: Int, width: Int)
    case gradientSize(count: Int, expected: Int)

    public var description: String {
        switch self {
        case let .emptyPrompt(prompt):
            "prompt \(prompt) has no tokens; a prompt runs from SOT to EOT"
        case let .promptTooLong(prompt, length, maximum):
            "prompt \(prompt) has \(length) tokens but the text tower takes at most \(maximum); shorten the class name or template"
        case let .tokenOutOfRange(prompt, token, vocabularySize):
            "prompt \(prompt) holds token id \(token), outside the vocabulary of \(vocabularySize); tokenize with this model's vocabulary"
        case let .vectorOutOfRange(prompt, index, available):
            "prompt \(prompt) refers to trainable vector \(index) but only \(available) were given"
        case let .vectorsNotRows(count, width):
            "the trainable vectors hold \(count) floats, not a whole number of rows of width \(width)"
        case let .gradientSize(count, expected):
            "the feature gradient holds \(count) floats, expected \(expected) (prompts x projection size)"
        }
    }

    public var errorDescription: String? { description }
}

/// Work counted for a forward pass, to relate its speed to sgemm's.
public struct TextTowerStatistics: Sendable, Equatable {
    public var promptCount = 0
    /// Packed rows computed (positions up to each EOT, shared prefixes once).
    public var packedRows = 0
    /// 2 x multiply-adds in sgemm calls (linear layers and the projection).
    public var sgemmFLOPs: Double = 0
    /// 2 x multiply-adds in attention scores and weighted sums.
    public var attentionFLOPs: Double = 0

    public init() {}

    public var totalFLOPs: Double { sgemmFLOPs + attentionFLOPs }

    static func += (lhs: inout TextTowerStatistics, rhs: TextTowerStatistics) {
        lhs.promptCount += rhs.promptCount
        lhs.packedRows += rhs.packedRows
        lhs.sgemmFLOPs += rhs.sgemmFLOPs
        lhs.attentionFLOPs += rhs.attentionFLOPs
    }
}

/// Activations one forward pass keeps for backward (train_gpt2.c ActivationTensors, reduced to
/// what input gradients need: no weight gradients means no matmul inputs are kept).
final class TextTowerActivations: @unchecked Sendable {
    // Written once by forward, then only read.
    var residual: [FloatBuffer] = []  // L + 1 of [T, W]: input of each block, then the output
    var mean1: [FloatBuffer] = [], rstd1: [FloatBuffer] = []  // [T]
    var qkv: [FloatBuffer] = []  // [T, 3W]
    var attention: [FloatBuffer] = []  // packing.attentionSize
    var residualMid: [FloatBuffer] = []  // [T, W] x + attention branch
    var mean2: [FloatBuffer] = [], rstd2: [FloatBuffer] = []  // [T]
    var fc1: [FloatBuffer] = []  // [T, I] before the activation
    var eotHidden = FloatBuffer(count: 0)  // [P, W] last block's output at each EOT
    var meanFinal = FloatBuffer(count: 0), rstdFinal = FloatBuffer(count: 0)  // [P]
}

/// The result of `TextTower.forward`, holding what `backward` needs.
public struct TextForwardState: Sendable {
    public let promptCount: Int
    /// Text features [P, projectionDim], before L2 normalisation.
    public let features: [Float]
    /// features / ||features|| per prompt, [P, projectionDim].
    public let normalizedFeatures: [Float]
    /// ||features|| per prompt [P].
    public let featureNorms: [Float]
    public let statistics: TextTowerStatistics
    let packing: PromptPacking
    let activations: TextTowerActivations
    let vectorCount: Int
}

/// The frozen CLIP text encoder.
public final class TextTower: Sendable {
    public let configuration: CLIPConfiguration
    public let weights: CLIPTextWeights

    public init(_ checkpoint: CLIPCheckpoint) {
        configuration = checkpoint.configuration
        weights = checkpoint.text
    }

    var width: Int { configuration.text.hiddenSize }
    var projectionDim: Int { configuration.projectionDim }

    // MARK: Public API

    /// Text features [P, projectionDim] (unnormalised) of prompts whose rows may splice in
    /// `vectors` [numVectors, W]; keeps the activations for `backward`.
    public func forward(_ prompts: [PromptRows], vectors: [Float]) throws -> TextForwardState {
        try validate(prompts, vectorFloats: vectors.count)
        let packing = PromptPacking(prompts: prompts, heads: configuration.text.attentionHeads)
        let activations = TextTowerActivations()
        let (features, statistics) = run(packing, vectors: vectors, keep: activations, promptCount: prompts.count)
        let (normalized, norms) = l2Normalize(features, rows: prompts.count, columns: projectionDim)
        return TextForwardState(
            promptCount: prompts.count, features: features, normalizedFeatures: normalized, featureNorms: norms,
            statistics: statistics, packing: packing, activations: activations, vectorCount: vectors.count / width)
    }

    /// Gradient with respect to `vectors` ([numVectors, W], as passed to `forward`), given
    /// dL/d(features) [P, projectionDim] of the unnormalised features.
    public func backward(_ state: TextForwardState, dFeatures: [Float]) throws -> [Float] {
        guard dFeatures.count == state.promptCount * projectionDim else {
            throw TextTowerError.gradientSize(count: dFeatures.count, expected: state.promptCount * projectionDim)
        }
        return backPropagate(state, dFeatures: dFeatures)
    }

    /// Gradient with respect to `vectors`, given dL/d(normalised features) [P, projectionDim].
    public func backward(_ state: TextForwardState, dNormalizedFeatures: [Float]) throws -> [Float] {
        guard dNormalizedFeatures.count == state.promptCount * projectionDim else {
            throw TextTowerError.gradientSize(count: dNormalizedFeatures.count, expected: state.promptCount * projectionDim)
        }
        let dFeatures = l2NormalizeBackward(
            dOut: dNormalizedFeatures, out: state.normalizedFeatures, norms: state.featureNorms, columns: projectionDim)
        return backPropagate(state, dFeatures: dFeatures)
    }

    /// Text features [P, projectionDim] of frozen prompts (token ids from SOT to EOT), computed
    /// in chunks without keeping activations. `normalized` applies CLIP's L2 normalisation.
    public func encode(tokenIDs: [[Int]], normalized: Bool = false) throws -> [Float] {
        var statistics = TextTowerStatistics()
        return try encode(tokenIDs: tokenIDs, normalized: normalized, statistics: &statistics)
    }

    /// `encode(tokenIDs:normalized:)`, adding the work done to `statistics`.
    public func encode(tokenIDs: [[Int]], normalized: Bool = false, statistics: inout TextTowerStatistics) throws -> [Float] {
        let prompts = tokenIDs.map { PromptRows(tokenIDs: $0) }
        try validate(prompts, vectorFloats: 0)
        // Chunks bound the activation memory and keep a layer's working set near the caches.
        let chunkSize = 512
        var features: [Float] = []
        features.reserveCapacity(prompts.count * projectionDim)
        for chunkStart in stride(from: 0, to: prompts.count, by: chunkSize) {
            let chunk = Array(prompts[chunkStart..<min(chunkStart + chunkSize, prompts.count)])
            let packing = PromptPacking(prompts: chunk, heads: configuration.text.attentionHeads)
            let (part, chunkStatistics) = run(packing, vectors: [], keep: nil, promptCount: chunk.count)
            features += part
            statistics += chunkStatistics
        }
        if normalized { features = l2Normalize(features, rows: prompts.count, columns: projectionDim).out }
        return features
    }

    // MARK: Validation

    private func validate(_ prompts: [PromptRows], vectorFloats: Int) throws {
        guard vectorFloats % width == 0 else { throw TextTowerError.vectorsNotRows(count: vectorFloats, width: width) }
        let vectorCount = vectorFloats / width
        let t = configuration.text
        for (p, prompt) in prompts.enumerated() {
            guard !prompt.rows.isEmpty else { throw TextTowerError.emptyPrompt(prompt: p) }
            guard prompt.rows.count <= t.maxPositions else {
                throw TextTowerError.promptTooLong(prompt: p, length: prompt.rows.count, maximum: t.maxPositions)
            }
            for row in prompt.rows {
                switch row {
                case let .token(id) where id < 0 || id >= t.vocabularySize:
                    throw TextTowerError.tokenOutOfRange(prompt: p, token: id, vocabularySize: t.vocabularySize)
                case let .vector(index) where index < 0 || index >= vectorCount:
                    throw TextTowerError.vectorOutOfRange(prompt: p, index: index, available: vectorCount)
                default: break
                }
            }
        }
    }

    // MARK: Forward

    /// Runs the tower over packed rows; fills `keep` with what backward needs when given.
    private func run(
        _ packing: PromptPacking, vectors: [Float], keep: TextTowerActivations?, promptCount: Int
    ) -> (features: [Float], statistics: TextTowerStatistics) {
        let t = configuration.text
        let (w, inner, heads, n) = (width, t.intermediateSize, t.attentionHeads, packing.rowCount)
        let eps = t.layerNormEpsilon

        // Embeddings: x0[row] = (token embedding or trainable vector) + positional embedding.
        let x0 = FloatBuffer(count: n * w)
        weights.tokenEmbedding.withUnsafeBufferPointer { tokens in
            weights.positionEmbedding.withUnsafeBufferPointer { positions in
                vectors.withUnsafeBufferPointer { vectors in
                    for (row, input) in packing.rows.enumerated() {
                        let source: UnsafePointer<Float> = switch input {
                        case let .token(id): tokens.baseAddress! + id * w
                        case let .vector(index): vectors.baseAddress! + index * w
                        }
                        residualForward(out: x0.pointer + row * w, a: source,
                                        b: positions.baseAddress! + packing.positions[row] * w, n: w)
                    }
                }
            }
        }

        // Scratch reused by every block; with `keep`, per-block buffers instead.
        let normed = FloatBuffer(count: n * w)
        let attended = FloatBuffer(count: n * w)
        let activated = FloatBuffer(count: n * inner)
        var scratchQKV: FloatBuffer?, scratchAttention: FloatBuffer?, scratchFC1: FloatBuffer?
        var scratchMean1: FloatBuffer?, scratchRstd1: FloatBuffer?, scratchMean2: FloatBuffer?, scratchRstd2: FloatBuffer?
        var scratchMid: FloatBuffer?, scratchNext: FloatBuffer?
        func perBlock(_ cached: inout FloatBuffer?, _ count: Int, _ kept: ReferenceWritableKeyPath<TextTowerActivations, [FloatBuffer]>) -> FloatBuffer {
            if let keep {
                let buffer = FloatBuffer(count: count)
                keep[keyPath: kept].append(buffer)
                return buffer
            }
            if cached == nil { cached = FloatBuffer(count: count) }
            return cached!
        }

        keep?.residual.append(x0)
        var x = x0
        let segments = packing.segments[...]
        for layer in weights.layers {
            let mean1 = perBlock(&scratchMean1, n, \.mean1), rstd1 = perBlock(&scratchRstd1, n, \.rstd1)
            let qkv = perBlock(&scratchQKV, n * 3 * w, \.qkv)
            let attention = perBlock(&scratchAttention, packing.attentionSize, \.attention)
            let mid = perBlock(&scratchMid, n * w, \.residualMid)
            let mean2 = perBlock(&scratchMean2, n, \.mean2), rstd2 = perBlock(&scratchRstd2, n, \.rstd2)
            let fc1 = perBlock(&scratchFC1, n * inner, \.fc1)
            let next: FloatBuffer
            if keep != nil {
                next = FloatBuffer(count: n * w)
            } else {
                // Ping-pong between x0 and one more buffer.
                if scratchNext == nil { scratchNext = FloatBuffer(count: n * w) }
                next = x === x0 ? scratchNext! : x0
            }
            let xIn = x

            // Attention branch: x + out_proj(attention(ln_1(x))).
            parallelChunks(n, minimumChunk: 16) { r in
                layerNormForward(out: normed.pointer + r.lowerBound * w, mean: mean1.pointer + r.lowerBound,
                                 rstd: rstd1.pointer + r.lowerBound, inp: xIn.pointer + r.lowerBound * w,
                                 weight: layer.layerNorm1Weight, bias: layer.layerNorm1Bias, n: r.count, c: w, eps: eps)
            }
            matmulForward(out: qkv.pointer, inp: normed.pointer, weight: layer.qkvWeight, bias: layer.qkvBias, n: n, c: w, oc: 3 * w)
            parallelChunks(heads, minimumChunk: 1) { headRange in
                attentionForward(out: attended.pointer, att: attention.pointer, qkv: qkv.pointer,
                                 segments: segments, heads: heads, width: w, headRange: headRange)
            }
            matmulForward(out: mid.pointer, inp: attended.pointer, weight: layer.outWeight, bias: layer.outBias,
                          residual: xIn.pointer, n: n, c: w, oc: w)

            // MLP branch: mid + fc2(act(fc1(ln_2(mid)))).
            parallelChunks(n, minimumChunk: 16) { r in
                layerNormForward(out: normed.pointer + r.lowerBound * w, mean: mean2.pointer + r.lowerBound,
                                 rstd: rstd2.pointer + r.lowerBound, inp: mid.pointer + r.lowerBound * w,
                                 weight: layer.layerNorm2Weight, bias: layer.layerNorm2Bias, n: r.count, c: w, eps: eps)
            }
            matmulForward(out: fc1.pointer, inp: normed.pointer, weight: layer.fc1Weight, bias: layer.fc1Bias, n: n, c: w, oc: inner)
            let activation = t.hiddenActivation
            parallelChunks(n * inner, minimumChunk: 4096) { r in
                switch activation {
                case .quickGELU: quickGELUForward(out: activated.pointer + r.lowerBound, inp: fc1.pointer + r.lowerBound, n: r.count)
                case .gelu: geluForward(out: activated.pointer + r.lowerBound, inp: fc1.pointer + r.lowerBound, n: r.count)
                }
            }
            matmulForward(out: next.pointer, inp: activated.pointer, weight: layer.fc2Weight, bias: layer.fc2Bias,
                          residual: mid.pointer, n: n, c: inner, oc: w)
            keep?.residual.append(next)
            x = next
        }

        // Final LayerNorm and projection at the EOT rows only.
        let p = promptCount
        let eotHidden = FloatBuffer(count: p * w), meanFinal = FloatBuffer(count: p), rstdFinal = FloatBuffer(count: p)
        for (prompt, row) in packing.eotRows.enumerated() {
            (eotHidden.pointer + prompt * w).update(from: x.pointer + row * w, count: w)
        }
        let finalNormed = FloatBuffer(count: p * w)
        layerNormForward(out: finalNormed.pointer, mean: meanFinal.pointer, rstd: rstdFinal.pointer, inp: eotHidden.pointer,
                         weight: weights.finalLayerNormWeight, bias: weights.finalLayerNormBias, n: p, c: w, eps: eps)
        let features = FloatBuffer(count: p * projectionDim)
        matmulForward(out: features.pointer, inp: finalNormed.pointer, weight: weights.textProjection, bias: nil,
                      n: p, c: w, oc: projectionDim)
        if let keep {
            keep.eotHidden = eotHidden
            keep.meanFinal = meanFinal
            keep.rstdFinal = rstdFinal
        }

        var statistics = TextTowerStatistics()
        statistics.promptCount = p
        statistics.packedRows = n
        let perRow = 2.0 * Double(w) * Double(3 * w + w + 2 * inner)
        statistics.sgemmFLOPs = Double(t.hiddenLayers) * Double(n) * perRow + 2.0 * Double(p * w * projectionDim)
        statistics.attentionFLOPs = Double(t.hiddenLayers) * packing.attentionFLOPs(width: w)
        return (features.array, statistics)
    }

    // MARK: Backward

    private func backPropagate(_ state: TextForwardState, dFeatures: [Float]) -> [Float] {
        let t = configuration.text
        let (w, inner, heads, p) = (width, t.intermediateSize, t.attentionHeads, state.promptCount)
        let packing = state.packing, kept = state.activations
        let first = packing.firstTrainableRow
        let n = packing.rowCount - first  // rows that depend on trainable vectors
        var dVectors = [Float](repeating: 0, count: state.vectorCount * w)
        guard n > 0 else { return dVectors }

        // Projection and final LayerNorm, at the EOT rows.
        let dFinalNormed = FloatBuffer(count: p * w), dEOT = FloatBuffer(count: p * w)
        matmulBackward(dinp: dFinalNormed.pointer, dout: dFeatures, weight: weights.textProjection, n: p, c: w, oc: projectionDim)
        layerNormBackward(dinp: dEOT.pointer, dout: dFinalNormed.pointer, inp: kept.eotHidden.pointer,
                          weight: weights.finalLayerNormWeight, mean: kept.meanFinal.pointer, rstd: kept.rstdFinal.pointer,
                          n: p, c: w)
        // dx: gradient of the residual stream on the trainable rows [n, W].
        let dx = FloatBuffer(count: n * w)
        for (prompt, row) in packing.eotRows.enumerated() where row >= first {
            let d = dx.pointer + (row - first) * w, g = dEOT.pointer + prompt * w
            for i in 0..<w { d[i] += g[i] }
        }

        let dActivated = FloatBuffer(count: n * inner), dFC1 = FloatBuffer(count: n * inner)
        let dNormed = FloatBuffer(count: n * w), dQKV = FloatBuffer(count: n * 3 * w)
        let segments = packing.segments[...]
        for (l, layer) in weights.layers.enumerated().reversed() {
            let xIn = kept.residual[l].pointer + first * w, mid = kept.residualMid[l].pointer + first * w
            let fc1 = kept.fc1[l].pointer + first * inner

            // MLP branch; dx flows straight through the residual and gains the branch's gradient.
            dActivated.zero()
            matmulBackward(dinp: dActivated.pointer, dout: dx.pointer, weight: layer.fc2Weight, n: n, c: inner, oc: w)
            dFC1.zero()
            let activation = t.hiddenActivation
            parallelChunks(n * inner, minimumChunk: 4096) { r in
                let (d, g, x) = (dFC1.pointer + r.lowerBound, dActivated.pointer + r.lowerBound, fc1 + r.lowerBound)
                switch activation {
                case .quickGELU: quickGELUBackward(dinp: d, dout: g, inp: x, n: r.count)
                case .gelu: geluBackward(dinp: d, dout: g, inp: x, n: r.count)
                }
            }
            dNormed.zero()
            matmulBackward(dinp: dNormed.pointer, dout: dFC1.pointer, weight: layer.fc1Weight, n: n, c: w, oc: inner)
            let mean2 = kept.mean2[l].pointer + first, rstd2 = kept.rstd2[l].pointer + first
            parallelChunks(n, minimumChunk: 16) { r in
                layerNormBackward(dinp: dx.pointer + r.lowerBound * w, dout: dNormed.pointer + r.lowerBound * w,
                                  inp: mid + r.lowerBound * w, weight: layer.layerNorm2Weight,
                                  mean: mean2 + r.lowerBound, rstd: rstd2 + r.lowerBound, n: r.count, c: w)
            }

            // Attention branch.
            dNormed.zero()
            matmulBackward(dinp: dNormed.pointer, dout: dx.pointer, weight: layer.outWeight, n: n, c: w, oc: w)
            dQKV.zero()
            let qkv = kept.qkv[l].pointer, attention = kept.attention[l].pointer
            parallelChunks(heads, minimumChunk: 1) { headRange in
                attentionBackward(dqkv: dQKV.pointer, dout: dNormed.pointer, qkv: qkv, att: attention,
                                  segments: segments, heads: heads, width: w, firstGradientRow: first, headRange: headRange)
            }
            dNormed.zero()
            matmulBackward(dinp: dNormed.pointer, dout: dQKV.pointer, weight: layer.qkvWeight, n: n, c: w, oc: 3 * w)
            let mean1 = kept.mean1[l].pointer + first, rstd1 = kept.rstd1[l].pointer + first
            parallelChunks(n, minimumChunk: 16) { r in
                layerNormBackward(dinp: dx.pointer + r.lowerBound * w, dout: dNormed.pointer + r.lowerBound * w,
                                  inp: xIn + r.lowerBound * w, weight: layer.layerNorm1Weight,
                                  mean: mean1 + r.lowerBound, rstd: rstd1 + r.lowerBound, n: r.count, c: w)
            }
        }

        // Embedding: the input row's gradient is the residual stream's at layer 0.
        for row in first..<packing.rowCount {
            guard case let .vector(index) = packing.rows[row] else { continue }
            let g = dx.pointer + (row - first) * w
            for i in 0..<w { dVectors[index * w + i] += g[i] }
        }
        return dVectors
    }

    /// Work of `backward` for a state: input-gradient sgemms on the trainable rows and attention.
    public func backwardStatistics(_ state: TextForwardState) -> TextTowerStatistics {
        let t = configuration.text
        let n = state.packing.rowCount - state.packing.firstTrainableRow
        var statistics = TextTowerStatistics()
        statistics.promptCount = state.promptCount
        statistics.packedRows = n
        let perRow = 2.0 * Double(width) * Double(3 * width + width + 2 * t.intermediateSize)
        statistics.sgemmFLOPs = Double(t.hiddenLayers) * Double(n) * perRow + 2.0 * Double(state.promptCount * width * projectionDim)
        // Backward of attention is about twice its forward (dp, dv; dq, dk).
        statistics.attentionFLOPs = 2 * Double(t.hiddenLayers) * state.packing.attentionFLOPs(width: width, fromRow: state.packing.firstTrainableRow)
        return statistics
    }
}

/// Caches text features of frozen prompts (CLIP's own `a photo of a <class>.`), so that they
/// are encoded once and reused by every training step.
public struct FrozenTextFeatures: Sendable {
    private var cache: [[Int]: [Float]] = [:]

    public init() {}

    public var count: Int { cache.count }

    /// Unnormalised features [P, projectionDim] of the prompts, encoding only the ones not cached yet.
    public mutating func features(tokenIDs: [[Int]], tower: TextTower) throws -> [Float] {
        var missing: [[Int]] = []
        var seen = Set<[Int]>()
        for ids in tokenIDs where cache[ids] == nil && seen.insert(ids).inserted { missing.append(ids) }
        if !missing.isEmpty {
            let encoded = try tower.encode(tokenIDs: missing)
            let d = tower.configuration.projectionDim
            for (i, ids) in missing.enumerated() { cache[ids] = Array(encoded[(i * d)..<((i + 1) * d)]) }
        }
        return tokenIDs.flatMap { cache[$0]! }
    }
}
