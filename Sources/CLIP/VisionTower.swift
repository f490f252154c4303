// CLIP's image tower, forward only (transformers' CLIPVisionTransformer + visual_projection;
// OpenAI clip/model.py VisionTransformer / encode_image):
//   pixels [N, 3, S, S] -> patch convolution (stride = kernel = p, no bias) -> class token
//   prepended -> + position embeddings -> pre LayerNorm -> L pre-LN residual blocks
//   (EncoderBlock.swift's, with unmasked multi-head attention) -> post LayerNorm of the class
//   token -> projection.
// Rows of all images in a chunk are packed into one [N*T, W] matrix (T = 1 + P positions), so
// every linear layer, the patch convolution included, is one sgemm; the element-wise layers and
// attention split their rows across the cores (Kernels' parallelChunks).

import Foundation
import Kernels

public enum VisionTowerError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case negativeImageCount(Int)
    case pixelCount(count: Int, images: Int, imageSize: Int, expected: Int)

    public var description: String {
        switch self {
        case let .negativeImageCount(count):
            "the image count is \(count); pass the number of images in the pixel buffer"
        case let .pixelCount(count, images, imageSize, expected):
            "the pixel buffer holds \(count) floats, but \(images) images of 3 x \(imageSize) x \(imageSize) (channel-first) need \(expected); preprocess the images to the tower's image size"
        }
    }

    public var errorDescription: String? { description }
}

/// The frozen CLIP image encoder.
public final class VisionTower: Sendable {
    public let configuration: CLIPConfiguration
    public let weights: CLIPVisionWeights

    /// Loads the image tower of a Hugging Face or open_clip checkpoint directory.
    public convenience init(directory: URL) throws {
        self.init(try CLIPVisionCheckpoint(directory: directory))
    }

    public convenience init(_ checkpoint: CLIPVisionCheckpoint) {
        self.init(configuration: checkpoint.configuration, weights: checkpoint.vision)
    }

    /// A tower from weights whose sizes match `configuration` (as the loader and `random` make them).
    public init(configuration: CLIPConfiguration, weights: CLIPVisionWeights) {
        let v = configuration.vision
        precondition(weights.layers.count == v.hiddenLayers
                     && weights.patchEmbedding.count == v.hiddenSize * v.channels * v.patchSize * v.patchSize
                     && weights.positionEmbedding.count == v.positionCount * v.hiddenSize
                     && weights.visualProjection.count == configuration.projectionDim * v.hiddenSize,
                     "VisionTower: weights do not match the vision configuration")
        self.configuration = configuration
        self.weights = weights
    }

    /// The side S of the square images the tower takes.
    public var imageSize: Int { configuration.vision.imageSize }
    public var projectionDim: Int { configuration.projectionDim }

    /// Images per chunk: a chunk's packed rows stay near 3,200, enough for sgemm to run at full
    /// speed while each of the MLP's two [rows, intermediate] buffers stays about 40 MB at ViT-B sizes.
    var imagesPerChunk: Int { max(1, 3200 / configuration.vision.positionCount) }

    /// Image features [count, projectionDim] of `pixels` [count, 3, S, S] (normalised,
    /// channel-first, as CLIPImageProcessor makes them); `normalized` applies CLIP's L2 normalisation.
    public func encode(pixels: [Float], count: Int, normalized: Bool = false) throws -> [Float] {
        guard count >= 0 else { throw VisionTowerError.negativeImageCount(count) }
        let v = configuration.vision
        let imageFloats = v.channels * v.imageSize * v.imageSize
        guard pixels.count == count * imageFloats else {
            throw VisionTowerError.pixelCount(count: pixels.count, images: count, imageSize: v.imageSize, expected: count * imageFloats)
        }
        var features = [Float](repeating: 0, count: count * projectionDim)
        guard count > 0 else { return features }
        let scratch = Scratch(configuration: configuration, images: min(count, imagesPerChunk))
        pixels.withUnsafeBufferPointer { pixels in
            features.withUnsafeMutableBufferPointer { features in
                for start in stride(from: 0, to: count, by: imagesPerChunk) {
                    let n = min(imagesPerChunk, count - start)
                    run(pixels: pixels.baseAddress! + start * imageFloats, images: n,
                        features: features.baseAddress! + start * projectionDim, scratch: scratch)
                }
            }
        }
        if normalized { features = l2Normalize(features, rows: count, columns: projectionDim).out }
        return features
    }

    // MARK: Forward

    /// Activation buffers of one chunk, allocated once per `encode` and reused by every chunk and block.
    final class Scratch {
        let patches, patchEmbeds, hidden, classHidden: FloatBuffer
        /// The blocks' buffers; no backward reads them, so every block overwrites the same ones.
        let block: EncoderBlockActivations
        let blockScratch: EncoderBlockScratch

        init(configuration: CLIPConfiguration, images n: Int) {
            let v = configuration.vision
            let (w, t, p) = (v.hiddenSize, v.positionCount, v.gridSize * v.gridSize)
            patches = FloatBuffer(count: n * p * v.channels * v.patchSize * v.patchSize)
            patchEmbeds = FloatBuffer(count: n * p * w)
            hidden = FloatBuffer(count: n * t * w)
            classHidden = FloatBuffer(count: n * w)
            let sizes = EncoderActivationSizes(rows: n * t, outputRows: n * t, shape: EncoderBlockShape(v))
            block = EncoderBlockActivations(sizes)
            blockScratch = EncoderBlockScratch(sizes)
        }
    }

    /// The tower over `n` images at `pixels`, writing their features [n, projectionDim] to `features`.
    private func run(pixels: ConstFloatPointer, images n: Int, features: FloatPointer, scratch s: Scratch) {
        let v = configuration.vision
        let (w, heads, eps) = (v.hiddenSize, v.attentionHeads, v.layerNormEpsilon)
        let (side, patch, grid, channels) = (v.imageSize, v.patchSize, v.gridSize, v.channels)
        let patchCount = grid * grid, t = v.positionCount, rows = n * t
        let patchFloats = channels * patch * patch

        // Patch embedding: Conv2d(3, W, kernel p, stride p, no bias) is a linear map of each
        // unfolded patch [3*p*p] (channel, row, column: the kernel's layout), so one sgemm
        // [n*P, 3pp] x [W, 3pp]^T does every image.
        let patches = s.patches.pointer
        parallelChunks(n * patchCount, minimumChunk: 64) { range in
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

        // Embeddings: [class; patches] + positions (CLIPVisionEmbeddings), then pre_layrnorm.
        let (patchEmbeds, normed) = (s.patchEmbeds.pointer, s.blockScratch.normed)
        weights.classEmbedding.withUnsafeBufferPointer { classEmbedding in
            weights.positionEmbedding.withUnsafeBufferPointer { positions in
                parallelChunks(rows, minimumChunk: 64) { range in
                    for row in range {
                        let (image, position) = (row / t, row % t)
                        var source = UnsafePointer(classEmbedding.baseAddress!)
                        if position > 0 {
                            let patchRow: Int = image * patchCount + position - 1
                            source = UnsafePointer(patchEmbeds.advanced(by: patchRow * w))
                        }
                        let rowOffset: Int = row * w, positionOffset: Int = position * w
                        residualForward(out: normed.advanced(by: rowOffset), a: source,
                                        b: positions.baseAddress!.advanced(by: positionOffset), n: w)
                    }
                }
            }
        }
        layerNormRows(out: s.hidden.pointer, inp: normed, rows: rows, weight: weights.preLayerNormWeight,
                      bias: weights.preLayerNormBias, scratch: s, eps: eps)

        // Only the class token feeds the features, so after the last block's attention (which
        // needs every row's keys and values) out_proj and the MLP run on its rows alone.
        let classRows = (0..<n).map { $0 * t }
        let shape = EncoderBlockShape(v)
        for (l, layer) in weights.layers.enumerated() {
            let isLast = l == weights.layers.count - 1
            layer.forward(out: (isLast ? s.classHidden : s.hidden).pointer, inp: s.hidden.pointer, rows: rows,
                          outputRows: isLast ? classRows : nil, kept: s.block, scratch: s.blockScratch, shape: shape) { qkv, _, attended in
                bidirectionalAttentionForward(out: attended, qkv: qkv, sequences: n, sequenceLength: t,
                                              queries: isLast ? 1 : t, heads: heads, width: w)
                return isLast ? .outputRows : .all
            }
        }

        // post_layernorm on the class token, then visual_projection (no bias).
        layerNormRows(out: normed, inp: s.classHidden.pointer, rows: n, weight: weights.postLayerNormWeight,
                      bias: weights.postLayerNormBias, scratch: s, eps: eps)
        matmulForward(out: features, inp: normed, weight: weights.visualProjection, bias: nil,
                      n: n, c: w, oc: projectionDim)
    }

    /// LayerNorm of `rows` rows of width W, split across the cores (mean and 1/std are not kept:
    /// the image tower has no backward pass).
    private func layerNormRows(
        out o: FloatPointer, inp x: ConstFloatPointer, rows: Int, weight: [Float], bias: [Float], scratch s: Scratch, eps: Float
    ) {
        let w = configuration.vision.hiddenSize
        let (mean, rstd) = (s.block.mean1, s.block.rstd1)
        weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { bias in
                let (g, b) = (weight.baseAddress!, bias.baseAddress!)
                parallelChunks(rows, minimumChunk: 16) { r in
                    layerNormForward(out: o + r.lowerBound * w, mean: mean + r.lowerBound, rstd: rstd + r.lowerBound,
                                     inp: x + r.lowerBound * w, weight: g, bias: b, n: r.count, c: w, eps: eps)
                }
            }
        }
    }
}
