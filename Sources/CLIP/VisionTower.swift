// CLIP's image tower (transformers' CLIPVisionTransformer + visual_projection; OpenAI
// clip/model.py VisionTransformer / encode_image):
//   pixels [N, 3, S, S] -> patch convolution (stride = kernel = p, no bias) -> class token
//   prepended -> + position embeddings -> pre LayerNorm -> L pre-LN residual blocks
//   (EncoderBlock.swift's, with unmasked multi-head attention) -> post LayerNorm of the class
//   token -> projection.
// Rows of all images in a chunk are packed into one [N*T, W] matrix (T = 1 + P positions), so
// every linear layer, the patch convolution included, is one sgemm; the element-wise layers and
// attention split their rows across the cores (Kernels' parallelChunks).
// MaPLe's prompt tokens (VisionPrompts.swift) lengthen every image's rows to T = 1 + P + nctx;
// the forward that keeps activations and its backward are there too.

import Foundation
import Kernels

public enum VisionTowerError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case negativeImageCount(Int)
    case pixelCount(count: Int, images: Int, imageSize: Int, expected: Int)
    case promptTokenCount(Int)
    case promptSize(part: String, count: Int, expected: Int, tokens: Int, width: Int)
    case deepPromptLayers(count: Int, maximum: Int)
    case gradientSize(count: Int, expected: Int)

    public var description: String {
        switch self {
        case let .negativeImageCount(count):
            "the image count is \(count); pass the number of images in the pixel buffer"
        case let .pixelCount(count, images, imageSize, expected):
            "the pixel buffer holds \(count) floats, but \(images) images of 3 x \(imageSize) x \(imageSize) (channel-first) need \(expected); preprocess the images to the tower's image size"
        case let .promptTokenCount(count):
            "the image prompts have \(count) tokens; pass at least one (nctx > 0), or no prompts (nil) for CLIP's own image features"
        case let .promptSize(part, count, expected, tokens, width):
            "the \(part) image prompts hold \(count) floats, but \(tokens) tokens of the image tower's width \(width) need \(expected); pass [nctx, \(width)] row-major"
        case let .deepPromptLayers(count, maximum):
            "deep image prompts are given for \(count) blocks, but deep[l-1] replaces the prompt rows entering block l = 1...\(maximum) of this tower; pass at most \(maximum)"
        case let .gradientSize(count, expected):
            "the feature gradient holds \(count) floats, expected \(expected) (images x projection size)"
        }
    }

    public var errorDescription: String? { description }
}

/// The frozen CLIP image encoder.
public final class VisionTower: Sendable {
    public let configuration: CLIPConfiguration
    public let weights: CLIPVisionWeights

    /// Loads the image tower of a Hugging Face or open_clip checkpoint directory.
    public convenience init(directory: URL, precision: Precision = .fp32) throws {
        self.init(try CLIPVisionCheckpoint(directory: directory), precision: precision)
    }

    public convenience init(_ checkpoint: CLIPVisionCheckpoint, precision: Precision = .fp32) {
        self.init(configuration: checkpoint.configuration, weights: checkpoint.vision, precision: precision)
    }

    /// A tower from weights whose sizes match `configuration` (as the loader and `random` make them).
    /// The arithmetic of the blocks' linear layers: fp32, or bf16 where the CPU has it
    /// (`BF16Support.resolve`; elsewhere the tower runs fp32).
    public let precision: Precision
    /// The blocks' linear weights in bf16, one per block, when precision is bf16.
    let bf16: [EncoderLayerBF16]?

    public init(configuration: CLIPConfiguration, weights: CLIPVisionWeights, precision: Precision = .fp32) {
        let v = configuration.vision
        precondition(weights.layers.count == v.hiddenLayers
                     && weights.patchEmbedding.count == v.hiddenSize * v.channels * v.patchSize * v.patchSize
                     && weights.positionEmbedding.count == v.positionCount * v.hiddenSize
                     && weights.visualProjection.count == configuration.projectionDim * v.hiddenSize,
                     "VisionTower: weights do not match the vision configuration")
        self.configuration = configuration
        self.weights = weights
        self.precision = BF16Support.resolve(precision).precision
        let shape = EncoderBlockShape(v)
        bf16 = self.precision == .bf16 ? weights.layers.map { EncoderLayerBF16($0, shape: shape) } : nil
    }

    /// The side S of the square images the tower takes.
    public var imageSize: Int { configuration.vision.imageSize }
    public var projectionDim: Int { configuration.projectionDim }

    /// Images per chunk: a chunk's packed rows stay near 3,200, enough for sgemm to run at full
    /// speed while each of the MLP's two [rows, intermediate] buffers stays about 40 MB at ViT-B sizes.
    var imagesPerChunk: Int { imagesPerChunk(sequenceLength: configuration.vision.positionCount) }

    func imagesPerChunk(sequenceLength t: Int) -> Int { max(1, 3200 / t) }

    /// Image features [count, projectionDim] of `pixels` [count, 3, S, S] (normalised,
    /// channel-first, as CLIPImageProcessor makes them); `normalized` applies CLIP's L2 normalisation.
    public func encode(pixels: [Float], count: Int, normalized: Bool = false) throws -> [Float] {
        try encode(pixels: pixels, count: count, prompts: nil, normalized: normalized)
    }

    /// Throws unless `pixels` holds `count` images of the tower's size.
    func validate(pixels: [Float], count: Int) throws {
        guard count >= 0 else { throw VisionTowerError.negativeImageCount(count) }
        let v = configuration.vision
        let imageFloats = v.channels * v.imageSize * v.imageSize
        guard pixels.count == count * imageFloats else {
            throw VisionTowerError.pixelCount(count: pixels.count, images: count, imageSize: v.imageSize, expected: count * imageFloats)
        }
    }

    // MARK: Forward

    /// Buffers of one pass that nothing reads afterwards, allocated once and reused by every chunk and block.
    final class Scratch {
        let patches, patchEmbeds: FloatBuffer
        let block: EncoderBlockScratch

        init(configuration: CLIPConfiguration, images n: Int, sequenceLength t: Int) {
            let v = configuration.vision
            let (w, p) = (v.hiddenSize, v.gridSize * v.gridSize)
            patches = FloatBuffer(count: n * p * v.channels * v.patchSize * v.patchSize)
            patchEmbeds = FloatBuffer(count: n * p * w)
            block = EncoderBlockScratch(EncoderActivationSizes(rows: n * t, outputRows: n * t, shape: EncoderBlockShape(v)))
        }
    }

    /// The tower over `n` images at `pixels` with T = 1 + P + nctx rows each, writing their
    /// features [n, projectionDim] to `features` and its activations to `a`.
    func run(pixels: ConstFloatPointer, images n: Int, prompts: VisionPrompts?, features: FloatPointer,
             scratch s: Scratch, activations a: VisionTowerActivations) {
        let v = configuration.vision
        let (w, heads, eps) = (v.hiddenSize, v.attentionHeads, v.layerNormEpsilon)
        let (side, patch, grid, channels) = (v.imageSize, v.patchSize, v.gridSize, v.channels)
        let patchCount = grid * grid, positionCount = v.positionCount
        let nctx = prompts?.count ?? 0, t = positionCount + nctx, rows = n * t
        let patchFloats = channels * patch * patch

        // Patch embedding: Conv2d(3, W, kernel p, stride p, no bias) is a linear map of each
        // unfolded patch [3*p*p] (channel, row, column: the kernel's layout), so one sgemm
        // [n*P, 3pp] x [W, 3pp]^T does every image.
        let patches = s.patches.pointer
        parallelChunks(n * patchCount, minimumChunk: 64, on: ThreadPool(precision)) { range in
            for index in range {
                let (image, cell) = (index / patchCount, index % patchCount)
                let (gy, gx) = (cell / grid, cell % grid)
                var out = patches + index * patchFloats
                for c in 0..<channels {
                    let plane = pixels + (image * channels + c) * side * side
                    for ky in 0..<patch {
                        out.update(from: plane + (gy * patch + ky) * side + gx * patch, count: patch)
                        out += patch
                    }
                }
            }
        }
        matmulForward(out: s.patchEmbeds.pointer, inp: patches, weight: weights.patchEmbedding, bias: nil,
                      n: n * patchCount, c: patchFloats, oc: w)

        // Embeddings: [class; patches] + positions (CLIPVisionEmbeddings), then MaPLe's shallow
        // prompts appended without positions, then pre_layrnorm.
        let (patchEmbeds, normed) = (s.patchEmbeds.pointer, s.block.normed)
        weights.classEmbedding.withUnsafeBufferPointer { classEmbedding in
            weights.positionEmbedding.withUnsafeBufferPointer { positions in
                (prompts?.shallow ?? []).withUnsafeBufferPointer { shallow in
                    parallelChunks(rows, minimumChunk: 64, on: ThreadPool(precision)) { range in
                        for row in range {
                            let (image, position) = (row / t, row % t)
                            let rowOffset: Int = row * w
                            guard position < positionCount else {
                                let promptOffset: Int = (position - positionCount) * w
                                normed.advanced(by: rowOffset).update(from: shallow.baseAddress!.advanced(by: promptOffset), count: w)
                                continue
                            }
                            var source = UnsafePointer(classEmbedding.baseAddress!)
                            if position > 0 {
                                let patchRow: Int = image * patchCount + position - 1
                                source = UnsafePointer(patchEmbeds.advanced(by: patchRow * w))
                            }
                            let positionOffset: Int = position * w
                            residualForward(out: normed.advanced(by: rowOffset), a: source,
                                            b: positions.baseAddress!.advanced(by: positionOffset), n: w)
                        }
                    }
                }
            }
        }
        layerNormRows(out: a.blockInputs[0].pointer, inp: normed, rows: rows, weight: weights.preLayerNormWeight,
                      bias: weights.preLayerNormBias, mean: a.preMean.pointer, rstd: a.preRstd.pointer, eps: eps)

        // Only the class token feeds the features, so after the last block's attention (which
        // needs every row's keys and values) out_proj and the MLP run on its rows alone.
        let classRows = (0..<n).map { $0 * t }
        let shape = EncoderBlockShape(v)
        let keepsProbabilities = a.keepsProbabilities
        for (l, layer) in weights.layers.enumerated() {
            let isLast = l == weights.layers.count - 1
            let inp = a.blockInputs[l].pointer
            if let prompts, l >= 1, l <= prompts.deep.count {
                replacePromptRows(of: inp, images: n, sequenceLength: t, with: prompts.deep[l - 1], tokens: nctx)
            }
            let out = isLast ? a.classHidden.pointer : a.blockInputs[l + 1].pointer
            layer.forward(out: out, inp: inp, rows: rows, outputRows: isLast ? classRows : nil,
                          kept: a.blocks[l], scratch: s.block, shape: shape, bf16: bf16?[l]) { qkv, probabilities, attended in
                let queries = isLast ? 1 : t
                if keepsProbabilities {
                    bidirectionalAttentionForward(out: attended, probabilities: probabilities, qkv: qkv, sequences: n,
                                                  sequenceLength: t, queries: queries, heads: heads, width: w, on: ThreadPool(precision))
                } else {
                    bidirectionalAttentionForward(out: attended, qkv: qkv, sequences: n, sequenceLength: t,
                                                  queries: queries, heads: heads, width: w, on: ThreadPool(precision))
                }
                return isLast ? .outputRows : .all
            }
        }

        // post_layernorm on the class token, then visual_projection (no bias).
        layerNormRows(out: normed, inp: a.classHidden.pointer, rows: n, weight: weights.postLayerNormWeight,
                      bias: weights.postLayerNormBias, mean: a.postMean.pointer, rstd: a.postRstd.pointer, eps: eps)
        matmulForward(out: features, inp: normed, weight: weights.visualProjection, bias: nil,
                      n: n, c: w, oc: projectionDim)
    }

    /// The last `tokens` rows of each of `n` images in x [n*T, W] become `values` [tokens, W].
    private func replacePromptRows(of x: FloatPointer, images n: Int, sequenceLength t: Int, with values: [Float], tokens: Int) {
        let w = configuration.vision.hiddenSize
        values.withUnsafeBufferPointer { values in
            for image in 0..<n { (x + (image * t + t - tokens) * w).update(from: values.baseAddress!, count: tokens * w) }
        }
    }

    /// LayerNorm of `rows` rows of width W, split across the cores; mean and 1/std go to `mean`
    /// and `rstd` [rows].
    private func layerNormRows(
        out o: FloatPointer, inp x: ConstFloatPointer, rows: Int, weight: [Float], bias: [Float],
        mean: FloatPointer, rstd: FloatPointer, eps: Float
    ) {
        let w = configuration.vision.hiddenSize
        weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { bias in
                let (g, b) = (weight.baseAddress!, bias.baseAddress!)
                parallelChunks(rows, minimumChunk: 16, on: ThreadPool(precision)) { r in
                    layerNormForward(out: o + r.lowerBound * w, mean: mean + r.lowerBound, rstd: rstd + r.lowerBound,
                                     inp: x + r.lowerBound * w, weight: g, bias: b, n: r.count, c: w, eps: eps)
                }
            }
        }
    }
}

/// Where a forward pass over n images of T rows writes its activations. Encoding reuses one
/// input buffer and one set of block activations for every block, since nothing reads them
/// afterwards; the forward kept for backward has its own per block (as TextTowerActivations).
struct VisionTowerActivations: Sendable {
    /// Each block's input [n*T, W], with its deep prompts in place. All blocks share one when reused.
    var blockInputs: [FloatBuffer]
    var blocks: [EncoderBlockActivations]
    /// The last block's output at the class tokens [n, W].
    var classHidden: FloatBuffer
    var preMean, preRstd: FloatBuffer  // [n*T] pre_layrnorm
    var postMean, postRstd: FloatBuffer  // [n] post_layernorm
    /// Whether attention keeps its probabilities [n, heads, Q, T] in `blocks[l].probabilities`.
    var keepsProbabilities: Bool

    /// One set for every block, for `encode`.
    static func reused(_ configuration: CLIPConfiguration, images n: Int, sequenceLength t: Int) -> Self {
        let v = configuration.vision
        let hidden = FloatBuffer(count: n * t * v.hiddenSize)
        let block = EncoderBlockActivations(EncoderActivationSizes(rows: n * t, outputRows: n * t, shape: EncoderBlockShape(v)))
        return Self(blockInputs: Array(repeating: hidden, count: v.hiddenLayers), blocks: Array(repeating: block, count: v.hiddenLayers),
                    classHidden: FloatBuffer(count: n * v.hiddenSize),
                    preMean: FloatBuffer(count: n * t), preRstd: FloatBuffer(count: n * t),
                    postMean: FloatBuffer(count: n), postRstd: FloatBuffer(count: n), keepsProbabilities: false)
    }

    /// One set per block, for backward; the last block keeps its class rows only after attention.
    static func kept(_ configuration: CLIPConfiguration, images n: Int, sequenceLength t: Int) -> Self {
        let v = configuration.vision
        let (w, heads, layers) = (v.hiddenSize, v.attentionHeads, v.hiddenLayers)
        let shape = EncoderBlockShape(v)
        let blocks = (0..<layers).map { l in
            let queries = l == layers - 1 ? 1 : t
            return EncoderBlockActivations(EncoderActivationSizes(
                rows: n * t, outputRows: n * queries, shape: shape, probabilities: n * heads * queries * t))
        }
        return Self(blockInputs: (0..<layers).map { _ in FloatBuffer(count: n * t * w) }, blocks: blocks,
                    classHidden: FloatBuffer(count: n * w),
                    preMean: FloatBuffer(count: n * t), preRstd: FloatBuffer(count: n * t),
                    postMean: FloatBuffer(count: n), postRstd: FloatBuffer(count: n), keepsProbabilities: true)
    }
}
