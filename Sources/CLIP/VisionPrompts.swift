// MaPLe's image-side prompts (Khattak et al., CVPR 2023; multimodal-prompt-learning clip/model.py
// VisionTransformer_MaPLe, ResidualAttentionBlock_MaPLe) through the frozen image tower:
//   - shallow prompts [nctx, W] are appended after the class and patch tokens of every image,
//     after the positional embedding (they get none) and before pre_layrnorm: T = 1 + P + nctx;
//   - deep prompts: the last nctx rows of each image entering block l = 1 ... deep.count are
//     replaced by deep[l-1] [nctx, W] (block 0 sees the shallow ones);
//   - the feature is still post_layernorm(class token) @ visual_projection.
// `forward` keeps each block's activations (VisionTowerActivations.kept) and `backward` returns
// the gradients of the prompts only, summed over the images: the weights are frozen and no
// gradient goes to the pixels. The forward itself is VisionTower.run.

import Foundation
import Kernels

/// MaPLe's image-side prompts: nctx tokens appended to every image, and per-layer replacements.
public struct VisionPrompts: Sendable, Equatable {
    public var count: Int  // nctx
    public var shallow: [Float]  // [nctx, Wv]
    public var deep: [[Float]]  // deep[l-1] [nctx, Wv] replaces the last nctx rows entering block l

    public init(count: Int, shallow: [Float], deep: [[Float]]) {
        self.count = count
        self.shallow = shallow
        self.deep = deep
    }
}

/// Gradients of a loss with respect to VisionPrompts' tokens, summed over the images.
public struct VisionPromptGradients: Sendable {
    public var shallow: [Float]  // [nctx, Wv]
    public var deep: [[Float]]  // as VisionPrompts.deep

    public init(shallow: [Float], deep: [[Float]]) {
        self.shallow = shallow
        self.deep = deep
    }
}

/// The result of `VisionTower.forward`, holding what `backward` needs.
public final class VisionForwardState: Sendable {
    public let count: Int
    /// Image features [count, projectionDim], before L2 normalisation.
    public let features: [Float]
    /// features / ||features|| per image, [count, projectionDim].
    public let normalizedFeatures: [Float]
    /// ||features|| per image [count].
    public let featureNorms: [Float]
    public let prompts: VisionPrompts?
    /// Rows per image, 1 + P + nctx.
    let sequenceLength: Int
    let activations: VisionTowerActivations?

    init(count: Int, features: [Float], projectionDim: Int, prompts: VisionPrompts?, sequenceLength: Int,
         activations: VisionTowerActivations?) {
        self.count = count
        self.features = features
        (normalizedFeatures, featureNorms) = l2Normalize(features, rows: count, columns: projectionDim)
        self.prompts = prompts
        self.sequenceLength = sequenceLength
        self.activations = activations
    }
}

extension VisionTower {
    /// Features of `pixels` [count, 3, S, S] through the prompted tower (CLIP's own without
    /// prompts), keeping activations for backward: all images in one pass, about 85 MB per image
    /// at ViT-B/16 with a few prompt tokens.
    public func forward(pixels: [Float], count: Int, prompts: VisionPrompts?) throws -> VisionForwardState {
        try validate(pixels: pixels, count: count)
        if let prompts { try validate(prompts) }
        let t = configuration.vision.positionCount + (prompts?.count ?? 0)
        var features = [Float](repeating: 0, count: count * projectionDim)
        guard count > 0 else {
            return VisionForwardState(count: 0, features: [], projectionDim: projectionDim, prompts: prompts,
                                      sequenceLength: t, activations: nil)
        }
        let activations = VisionTowerActivations.kept(configuration, images: count, sequenceLength: t)
        let scratch = Scratch(configuration: configuration, images: count, sequenceLength: t)
        pixels.withUnsafeBufferPointer { pixels in
            features.withUnsafeMutableBufferPointer { features in
                run(pixels: pixels.baseAddress!, images: count, prompts: prompts, features: features.baseAddress!,
                    scratch: scratch, activations: activations)
            }
        }
        return VisionForwardState(count: count, features: features, projectionDim: projectionDim, prompts: prompts,
                                  sequenceLength: t, activations: activations)
    }

    /// Gradients of the prompts given dL/d(features) [count, projectionDim] of the unnormalised
    /// features; empty without prompts.
    public func backward(_ state: VisionForwardState, dFeatures: [Float]) throws -> VisionPromptGradients {
        guard dFeatures.count == state.count * projectionDim else {
            throw VisionTowerError.gradientSize(count: dFeatures.count, expected: state.count * projectionDim)
        }
        return backPropagate(state, dFeatures: dFeatures)
    }

    /// Gradients of the prompts given dL/d(normalised features) [count, projectionDim].
    public func backward(_ state: VisionForwardState, dNormalizedFeatures: [Float]) throws -> VisionPromptGradients {
        guard dNormalizedFeatures.count == state.count * projectionDim else {
            throw VisionTowerError.gradientSize(count: dNormalizedFeatures.count, expected: state.count * projectionDim)
        }
        let dFeatures = l2NormalizeBackward(
            dOut: dNormalizedFeatures, out: state.normalizedFeatures, norms: state.featureNorms, columns: projectionDim)
        return backPropagate(state, dFeatures: dFeatures)
    }

    /// Chunked, no activations kept (evaluation): like encode(pixels:count:normalized:) with prompts.
    public func encode(pixels: [Float], count: Int, prompts: VisionPrompts?, normalized: Bool = false) throws -> [Float] {
        try validate(pixels: pixels, count: count)
        if let prompts { try validate(prompts) }
        let v = configuration.vision
        let imageFloats = v.channels * v.imageSize * v.imageSize
        let t = v.positionCount + (prompts?.count ?? 0)
        var features = [Float](repeating: 0, count: count * projectionDim)
        guard count > 0 else { return features }
        let chunk = imagesPerChunk(sequenceLength: t)
        let scratch = Scratch(configuration: configuration, images: min(count, chunk), sequenceLength: t)
        let activations = VisionTowerActivations.reused(configuration, images: min(count, chunk), sequenceLength: t)
        pixels.withUnsafeBufferPointer { pixels in
            features.withUnsafeMutableBufferPointer { features in
                for start in stride(from: 0, to: count, by: chunk) {
                    run(pixels: pixels.baseAddress! + start * imageFloats, images: min(chunk, count - start), prompts: prompts,
                        features: features.baseAddress! + start * projectionDim, scratch: scratch, activations: activations)
                }
            }
        }
        if normalized { features = l2Normalize(features, rows: count, columns: projectionDim).out }
        return features
    }

    /// Throws unless the prompts' sizes fit this tower.
    func validate(_ prompts: VisionPrompts) throws {
        let (w, layers) = (configuration.vision.hiddenSize, configuration.vision.hiddenLayers)
        let nctx = prompts.count
        guard nctx > 0 else { throw VisionTowerError.promptTokenCount(nctx) }
        guard prompts.shallow.count == nctx * w else {
            throw VisionTowerError.promptSize(part: "shallow", count: prompts.shallow.count, expected: nctx * w, tokens: nctx, width: w)
        }
        guard prompts.deep.count <= layers - 1 else {
            throw VisionTowerError.deepPromptLayers(count: prompts.deep.count, maximum: layers - 1)
        }
        for (i, deep) in prompts.deep.enumerated() where deep.count != nctx * w {
            throw VisionTowerError.promptSize(part: "deep[\(i)]", count: deep.count, expected: nctx * w, tokens: nctx, width: w)
        }
    }

    // MARK: Backward

    private func backPropagate(_ state: VisionForwardState, dFeatures: [Float]) -> VisionPromptGradients {
        let v = configuration.vision
        let (w, heads, layers) = (v.hiddenSize, v.attentionHeads, v.hiddenLayers)
        guard let prompts = state.prompts else { return VisionPromptGradients(shallow: [], deep: []) }
        let nctx = prompts.count
        var gradients = VisionPromptGradients(
            shallow: [Float](repeating: 0, count: nctx * w),
            deep: prompts.deep.map { [Float](repeating: 0, count: $0.count) })
        guard let a = state.activations else { return gradients }
        let (n, t) = (state.count, state.sequenceLength)
        let rows = n * t

        // visual_projection and post_layernorm on the class rows: dClass is the gradient of the
        // last block's output [n, W].
        let dNormed = FloatBuffer(count: n * w), dClass = FloatBuffer(count: n * w)
        matmulBackward(dinp: dNormed.pointer, dout: dFeatures, weight: weights.visualProjection, n: n, c: w, oc: projectionDim)
        layerNormBackward(dinp: dClass.pointer, dout: dNormed.pointer, inp: a.classHidden.pointer, weight: weights.postLayerNormWeight,
                          mean: a.postMean.pointer, rstd: a.postRstd.pointer, n: n, c: w)

        // The blocks in reverse; dx is the gradient of the residual stream [n*T, W].
        let shape = EncoderBlockShape(v)
        let blockGradients = EncoderBlockGradients(EncoderActivationSizes(rows: rows, outputRows: rows, shape: shape))
        let dx = FloatBuffer(count: rows * w)
        let classRows = (0..<n).map { $0 * t }
        // The last block's attention output exists at the class rows only: [n, W] in their order.
        let dClassAttended = FloatBuffer(count: n * w)
        for (l, layer) in weights.layers.enumerated().reversed() {
            let isLast = l == layers - 1
            let (qkv, probabilities) = (ConstFloatPointer(a.blocks[l].qkv), ConstFloatPointer(a.blocks[l].probabilities))
            layer.backward(
                dInp: dx.pointer, dOut: isLast ? dClass.pointer : dx.pointer, inp: a.blockInputs[l].pointer, rows: rows,
                outputRows: isLast ? classRows : nil, kept: a.blocks[l], gradients: blockGradients, shape: shape, bf16: bf16?[l]
            ) { dqkv, dAttended in
                var dout = dAttended
                if isLast {
                    gatherRows(dClassAttended.pointer, dAttended, rows: classRows, width: w)
                    dout = ConstFloatPointer(dClassAttended.pointer)
                }
                bidirectionalAttentionBackward(dqkv: dqkv, dout: dout, qkv: qkv, probabilities: probabilities, sequences: n,
                                               sequenceLength: t, queries: isLast ? 1 : t, heads: heads, width: w, on: ThreadPool(precision))
            }
            // deep[l-1] replaced the prompt rows entering block l: their gradient is its gradient,
            // and nothing flows further back through them.
            if l >= 1, l <= prompts.deep.count {
                gradients.deep[l - 1] = takePromptRows(of: dx.pointer, images: n, sequenceLength: t, tokens: nctx)
            }
        }

        // pre_layrnorm at the prompt rows: their input is the shallow prompts, the same in every
        // image, so LayerNorm's backward (linear in its output gradient) runs once on the sum.
        let dPrompt = takePromptRows(of: dx.pointer, images: n, sequenceLength: t, tokens: nctx)
        let promptStart = t - nctx  // image 0's first prompt row
        prompts.shallow.withUnsafeBufferPointer { shallow in
            gradients.shallow.withUnsafeMutableBufferPointer { dShallow in
                layerNormBackward(dinp: dShallow.baseAddress!, dout: dPrompt, inp: shallow.baseAddress!,
                                  weight: weights.preLayerNormWeight, mean: a.preMean.pointer + promptStart,
                                  rstd: a.preRstd.pointer + promptStart, n: nctx, c: w)
            }
        }
        return gradients
    }

    /// The sum over the `n` images of the last `tokens` rows of each in dx [n*T, W], [tokens, W];
    /// those rows of dx become zero.
    private func takePromptRows(of dx: FloatPointer, images n: Int, sequenceLength t: Int, tokens: Int) -> [Float] {
        let count = tokens * configuration.vision.hiddenSize
        var sum = [Float](repeating: 0, count: count)
        for image in 0..<n {
            let rows = dx + (image * t + t - tokens) * configuration.vision.hiddenSize
            for i in 0..<count { sum[i] += rows[i] }
            rows.update(repeating: 0, count: count)
        }
        return sum
    }
}
