// CLIP's text tower (transformers' CLIPTextTransformer + text_projection; OpenAI clip/model.py
// encode_text): token embeddings + positional embeddings -> N pre-LN residual blocks
// (causal multi-head attention, MLP) -> final LayerNorm -> hidden state at the EOT position
// -> text projection. Forward keeps what backward needs; backward returns the gradient with
// respect to the caller's trainable input rows only (the weights are frozen).
// The block is EncoderBlock.swift's, shared with the image tower; layer functions are in the
// Kernels module (llm.c style); the packing is in PromptPacking.swift.

import Foundation
import Kernels

public enum TextTowerError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case emptyPrompt(prompt: Int)
    case promptTooLong(prompt: Int, length: Int, maximum: Int)
    case tokenOutOfRange(prompt: Int, token: Int, vocabularySize: Int)
    case vectorOutOfRange(prompt: Int, index: Int, available: Int)
    case vectorsNotRows(count: Int, width: Int)
    case gradientSize(count: Int, expected: Int)
    case deepPrompts(reason: String)

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
        case let .deepPrompts(reason):
            "deep prompts: \(reason)"
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
    // Written once by forward, then only read. One entry per block; in the last block the
    // entries after attention hold the P EOT rows only (T becomes P).
    var residual: [FloatBuffer] = []  // L + 1: input of each block [T, W], then the output [P, W]
    var blocks: [EncoderBlockActivations] = []  // attention probabilities: packing.attentionSize
    var eotHidden = FloatBuffer(count: 0)  // [P, W] last block's output at each EOT (= residual[L])
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
    let deep: TextDeepPrompts?
}

/// The frozen CLIP text encoder.
public final class TextTower: Sendable {
    public let configuration: CLIPConfiguration
    public let weights: CLIPTextWeights
    /// The arithmetic of the blocks' linear layers: fp32, or bf16 where the CPU has it
    /// (`BF16Support.resolve`; elsewhere the tower runs fp32).
    public let precision: Precision
    /// The blocks' linear weights in bf16, one per block, when precision is bf16.
    let bf16: [EncoderLayerBF16]?

    public init(_ checkpoint: CLIPCheckpoint, precision: Precision = .fp32) {
        configuration = checkpoint.configuration
        weights = checkpoint.text
        self.precision = BF16Support.resolve(precision).precision
        let shape = EncoderBlockShape(checkpoint.configuration.text)
        bf16 = self.precision == .bf16 ? checkpoint.text.layers.map { EncoderLayerBF16($0, shape: shape) } : nil
    }

    var width: Int { configuration.text.hiddenSize }
    var projectionDim: Int { configuration.projectionDim }

    // MARK: Public API

    /// Text features [P, projectionDim] (unnormalised) of prompts whose rows may splice in
    /// `vectors` [numVectors, W], with MaPLe's `deep` prompts replacing rows at block entries;
    /// keeps the activations for `backward`. Rows that deep prompts replace must lie in the
    /// prompts' trainable tails (after a prompt's first vector row), where backward reaches.
    public func forward(_ prompts: [PromptRows], vectors: [Float], deep: TextDeepPrompts? = nil) throws -> TextForwardState {
        try validate(prompts, vectorFloats: vectors.count)
        try validate(deep)
        let packing = PromptPacking(prompts: prompts, heads: configuration.text.attentionHeads)
        if let deep, let row = packing.positions[..<packing.firstTrainableRow].firstIndex(where: deep.positions.contains) {
            throw TextTowerError.deepPrompts(reason: "position \(packing.positions[row]) is replaced but lies before a prompt's first trainable vector; put the context vectors at positions \(deep.positions.lowerBound)..<\(deep.positions.upperBound)")
        }
        let activations = TextTowerActivations()
        let (features, statistics) = run(packing, vectors: vectors, deep: deep, keep: activations, promptCount: prompts.count)
        let (normalized, norms) = l2Normalize(features, rows: prompts.count, columns: projectionDim)
        return TextForwardState(
            promptCount: prompts.count, features: features, normalizedFeatures: normalized, featureNorms: norms,
            statistics: statistics, packing: packing, activations: activations, vectorCount: vectors.count / width, deep: deep)
    }

    /// Text features [P, projectionDim] (unnormalised) as `forward` computes them, in chunks of
    /// prompts without keeping activations (evaluation).
    public func features(_ prompts: [PromptRows], vectors: [Float], deep: TextDeepPrompts? = nil) throws -> [Float] {
        try validate(prompts, vectorFloats: vectors.count)
        try validate(deep)
        var statistics = TextTowerStatistics()
        return encodeChunks(prompts, vectors: vectors, deep: deep, statistics: &statistics)
    }

    /// Gradient with respect to `vectors` ([numVectors, W], as passed to `forward`), given
    /// dL/d(features) [P, projectionDim] of the unnormalised features.
    public func backward(_ state: TextForwardState, dFeatures: [Float]) throws -> [Float] {
        guard dFeatures.count == state.promptCount * projectionDim else {
            throw TextTowerError.gradientSize(count: dFeatures.count, expected: state.promptCount * projectionDim)
        }
        return backPropagate(state, dFeatures: dFeatures).vectors
    }

    /// Gradient with respect to `vectors`, given dL/d(normalised features) [P, projectionDim].
    public func backward(_ state: TextForwardState, dNormalizedFeatures: [Float]) throws -> [Float] {
        try gradients(state, dNormalizedFeatures: dNormalizedFeatures).vectors
    }

    /// Gradients with respect to `vectors` and the deep prompts, given dL/d(normalised features)
    /// [P, projectionDim].
    public func gradients(_ state: TextForwardState, dNormalizedFeatures: [Float]) throws -> TextTowerGradients {
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
        let features = encodeChunks(prompts, vectors: [], deep: nil, statistics: &statistics)
        return normalized ? l2Normalize(features, rows: prompts.count, columns: projectionDim).out : features
    }

    /// Features of validated prompts, computed in chunks without keeping activations: chunks bound
    /// the activation memory and keep a layer's working set near the caches.
    private func encodeChunks(
        _ prompts: [PromptRows], vectors: [Float], deep: TextDeepPrompts?, statistics: inout TextTowerStatistics
    ) -> [Float] {
        let chunkSize = 512
        var features: [Float] = []
        features.reserveCapacity(prompts.count * projectionDim)
        for chunkStart in stride(from: 0, to: prompts.count, by: chunkSize) {
            let chunk = Array(prompts[chunkStart..<min(chunkStart + chunkSize, prompts.count)])
            let packing = PromptPacking(prompts: chunk, heads: configuration.text.attentionHeads)
            let (part, chunkStatistics) = run(packing, vectors: vectors, deep: deep, keep: nil, promptCount: chunk.count)
            features += part
            statistics += chunkStatistics
        }
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

    private func validate(_ deep: TextDeepPrompts?) throws {
        guard let deep else { return }
        let layers = configuration.text.hiddenLayers
        guard deep.count > 0, deep.firstPosition >= 1, deep.positions.upperBound <= configuration.text.maxPositions else {
            throw TextTowerError.deepPrompts(reason: "\(deep.count) rows from position \(deep.firstPosition) do not fit between SOT and the last of \(configuration.text.maxPositions) positions")
        }
        guard deep.layers.count <= layers - 1 else {
            throw TextTowerError.deepPrompts(reason: "\(deep.layers.count) layers of deep prompts, but a tower of \(layers) blocks takes at most \(layers - 1) (prompt depth \(layers)); lower the prompt depth")
        }
        for (i, layer) in deep.layers.enumerated() where layer.count != deep.count * width {
            throw TextTowerError.deepPrompts(reason: "block \(i + 1)'s prompt holds \(layer.count) floats, expected \(deep.count) x \(width)")
        }
    }

    // MARK: Forward

    /// Runs the tower over packed rows; fills `keep` with what backward needs when given.
    private func run(
        _ packing: PromptPacking, vectors: [Float], deep: TextDeepPrompts?, keep: TextTowerActivations?, promptCount: Int
    ) -> (features: [Float], statistics: TextTowerStatistics) {
        let t = configuration.text
        let (w, heads, n) = (width, t.attentionHeads, packing.rowCount)
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

        // The last block's attention needs every row's keys and values, but after it only the
        // EOT rows feed the features: its MLP (and out_proj) run on P rows instead of T.
        let p = promptCount
        let shape = EncoderBlockShape(t)
        func sizes(outputRows: Int) -> EncoderActivationSizes {
            EncoderActivationSizes(rows: n, outputRows: outputRows, shape: shape, probabilities: packing.attentionSize)
        }
        let scratch = EncoderBlockScratch(sizes(outputRows: max(n, p)))
        // Without `keep`, one set of block activations serves every block.
        let reused = keep == nil ? EncoderBlockActivations(sizes(outputRows: max(n, p))) : nil
        var scratchNext: FloatBuffer?

        keep?.residual.append(x0)
        var x = x0
        let segments = packing.segments[...]
        for (l, layer) in weights.layers.enumerated() {
            let isLast = l == weights.layers.count - 1
            let m = isLast ? p : n  // rows after attention
            let kept = reused ?? EncoderBlockActivations(sizes(outputRows: m))
            keep?.blocks.append(kept)
            if let deep, let replacement = deep.replacement(enteringBlock: l) {
                // x is this block's input (kept as residual[l] when training): the deep prompt's
                // rows take the place of what block l - 1 made of them.
                replacement.withUnsafeBufferPointer { rows in
                    for (row, position) in packing.positions.enumerated() where deep.positions.contains(position) {
                        (x.pointer + row * w).update(from: rows.baseAddress! + (position - deep.firstPosition) * w, count: w)
                    }
                }
            }
            let next: FloatBuffer
            if keep != nil || isLast {
                next = FloatBuffer(count: m * w)
            } else {
                // Ping-pong between x0 and one more buffer.
                if scratchNext == nil { scratchNext = FloatBuffer(count: n * w) }
                next = x === x0 ? scratchNext! : x0
            }
            layer.forward(out: next.pointer, inp: x.pointer, rows: n, outputRows: isLast ? packing.eotRows : nil,
                          kept: kept, scratch: scratch, shape: shape, bf16: bf16?[l]) { qkv, probabilities, attended in
                parallelChunks(heads, minimumChunk: 1, on: ThreadPool(precision)) { headRange in
                    attentionForward(out: attended, att: probabilities, qkv: qkv,
                                     segments: segments, heads: heads, width: w, headRange: headRange)
                }
                return .all
            }
            keep?.residual.append(next)
            x = next
        }

        // Final LayerNorm and projection; x now holds the last block's output at each EOT [P, W].
        let eotHidden = x, meanFinal = FloatBuffer(count: p), rstdFinal = FloatBuffer(count: p)
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
        return (features.array, workStatistics(packing, promptCount: p, rows: n, attentionFactor: 1, fromRow: 0))
    }

    /// FLOPs of a pass over `rows` packed rows: every block's qkv on all rows, the other products on
    /// all rows but in the last block (P rows there), the projection; attention scaled by `attentionFactor`.
    private func workStatistics(
        _ packing: PromptPacking, promptCount p: Int, rows: Int, attentionFactor: Double, fromRow: Int
    ) -> TextTowerStatistics {
        let t = configuration.text
        let (w, inner, layers) = (Double(width), Double(t.intermediateSize), Double(t.hiddenLayers))
        let qkv = 2 * w * 3 * w, rest = 2 * w * (w + 2 * inner)
        var statistics = TextTowerStatistics()
        statistics.promptCount = p
        statistics.packedRows = rows
        statistics.sgemmFLOPs = layers * Double(rows) * qkv + (layers - 1) * Double(rows) * rest + Double(p) * rest
            + 2 * Double(p) * w * Double(projectionDim)
        statistics.attentionFLOPs = attentionFactor * layers * packing.attentionFLOPs(width: width, fromRow: fromRow)
        return statistics
    }

    // MARK: Backward

    private func backPropagate(_ state: TextForwardState, dFeatures: [Float]) -> TextTowerGradients {
        let t = configuration.text
        let (w, heads, p) = (width, t.attentionHeads, state.promptCount)
        let packing = state.packing, kept = state.activations
        let first = packing.firstTrainableRow
        let n = packing.rowCount - first  // rows that depend on trainable vectors
        var dVectors = [Float](repeating: 0, count: state.vectorCount * w)
        var dDeep = (state.deep?.layers ?? []).map { [Float](repeating: 0, count: $0.count) }
        guard n > 0 else { return TextTowerGradients(vectors: dVectors, deep: dDeep) }

        // Projection and final LayerNorm, at the EOT rows: dEOT is the gradient of the last
        // block's output [P, W].
        let dFinalNormed = FloatBuffer(count: p * w), dEOT = FloatBuffer(count: p * w)
        matmulBackward(dinp: dFinalNormed.pointer, dout: dFeatures, weight: weights.textProjection, n: p, c: w, oc: projectionDim)
        layerNormBackward(dinp: dEOT.pointer, dout: dFinalNormed.pointer, inp: kept.eotHidden.pointer,
                          weight: weights.finalLayerNormWeight, mean: kept.meanFinal.pointer, rstd: kept.rstdFinal.pointer,
                          n: p, c: w)

        let shape = EncoderBlockShape(t)
        let gradients = EncoderBlockGradients(EncoderActivationSizes(rows: n, outputRows: max(n, p), shape: shape))
        // dx: gradient of the residual stream on the trainable rows [n, W].
        let dx = FloatBuffer(count: n * w)
        let segments = packing.segments[...]
        // The last block's MLP and out_proj ran on the EOT rows; frozen prompts' EOT rows lie
        // before `first` and get no gradient.
        let eotRows = packing.eotRows.map { $0 - first }
        for (l, layer) in weights.layers.enumerated().reversed() {
            let isLast = l == weights.layers.count - 1
            let blockKept = kept.blocks[l]
            let qkv = blockKept.qkv, attention = blockKept.probabilities
            layer.backward(
                dInp: dx.pointer, dOut: isLast ? dEOT.pointer : dx.pointer, inp: kept.residual[l].pointer + first * w,
                rows: n, outputRows: isLast ? eotRows : nil,
                kept: blockKept.from(inputRow: first, outputRow: isLast ? 0 : first, shape: shape),
                gradients: gradients, shape: shape, bf16: bf16?[l]
            ) { dqkv, dAttended in
                parallelChunks(heads, minimumChunk: 1, on: ThreadPool(precision)) { headRange in
                    attentionBackward(dqkv: dqkv, dout: dAttended, qkv: qkv, att: attention,
                                      segments: segments, heads: heads, width: w, firstGradientRow: first, headRange: headRange)
                }
            }
            // dx is now the gradient of block l's input. Rows a deep prompt filled there pass
            // their gradient to that prompt and nothing further back.
            if let deep = state.deep, deep.replacement(enteringBlock: l) != nil {
                for row in first..<packing.rowCount where deep.positions.contains(packing.positions[row]) {
                    let g = dx.pointer + (row - first) * w, target = (packing.positions[row] - deep.firstPosition) * w
                    for i in 0..<w { dDeep[l - 1][target + i] += g[i] }
                    g.update(repeating: 0, count: w)
                }
            }
        }

        // Embedding: the input row's gradient is the residual stream's at layer 0.
        for row in first..<packing.rowCount {
            guard case let .vector(index) = packing.rows[row] else { continue }
            let g = dx.pointer + (row - first) * w
            for i in 0..<w { dVectors[index * w + i] += g[i] }
        }
        return TextTowerGradients(vectors: dVectors, deep: dDeep)
    }

    /// Work of `backward` for a state: input-gradient sgemms on the trainable rows (the last
    /// block's MLP on the EOT rows) and attention, whose backward is about twice its forward.
    public func backwardStatistics(_ state: TextForwardState) -> TextTowerStatistics {
        let first = state.packing.firstTrainableRow
        return workStatistics(state.packing, promptCount: state.promptCount, rows: state.packing.rowCount - first,
                              attentionFactor: 2, fromRow: first)
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
