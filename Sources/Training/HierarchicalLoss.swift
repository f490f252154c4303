import Foundation
import Kernels

// LAMM's hierarchical loss (LAMM.md, "Losses"):
//   L = L_CE + lambda1 * L_WC + lambda2 * L_COS + lambda3 * L_KD
// in logit space (CE, KD), feature space (COS) and parameter space (WC). Each term has its
// forward and its gradient side by side; the feature-space terms return dL/d(normalised text
// features), which the text tower carries back to the label vectors.

/// The weights of the hierarchical loss and KD's temperature. The defaults are the paper's for
/// n shots per class: lambda1 = 1/n, lambda2 = 1, lambda3 = 0.05, T = 2. A weight of 0 switches
/// its term off (Table 4).
public struct LossWeights: Codable, Sendable, Equatable {
    public var wc: Float
    public var cos: Float
    public var kd: Float
    public var temperature: Float

    public init(wc: Float, cos: Float = 1, kd: Float = 0.05, temperature: Float = 2) {
        self.wc = wc
        self.cos = cos
        self.kd = kd
        self.temperature = temperature
    }

    public static func paper(shots: Int) -> LossWeights { LossWeights(wc: 1 / Float(max(shots, 1))) }
}

/// Values of the four terms (unweighted) and the weighted total.
public struct LossTerms: Codable, Sendable, Equatable {
    public var ce: Float = 0
    public var wc: Float = 0
    public var cos: Float = 0
    public var kd: Float = 0
    public var total: Float = 0

    public init(ce: Float = 0, wc: Float = 0, cos: Float = 0, kd: Float = 0, total: Float = 0) {
        self.ce = ce
        self.wc = wc
        self.cos = cos
        self.kd = kd
        self.total = total
    }
}

/// One batch for the feature- and logit-space terms. All features are L2-normalised.
public struct FeatureLossBatch {
    /// I_x [B, D].
    public var imageFeatures: [Float]
    /// Class of each sample, an index into the label space [B].
    public var labels: [Int]
    /// psi(z_i) [C, D]: text features of the label-space prompts with the current label vectors.
    public var textFeatures: [Float]
    /// psi(y_i) [C, D]: text features of CLIP's original prompts (frozen).
    public var clipTextFeatures: [Float]
    /// tau = exp(logit_scale).
    public var logitScale: Float
    public var dimension: Int

    public init(imageFeatures: [Float], labels: [Int], textFeatures: [Float], clipTextFeatures: [Float],
                logitScale: Float, dimension: Int) {
        self.imageFeatures = imageFeatures
        self.labels = labels
        self.textFeatures = textFeatures
        self.clipTextFeatures = clipTextFeatures
        self.logitScale = logitScale
        self.dimension = dimension
    }

    var batchSize: Int { labels.count }
    var classCount: Int { textFeatures.count / dimension }
}

/// logits [B, C] = tau * I [B, D] . T [C, D]^T.
func logits(_ images: [Float], _ texts: [Float], batch: Int, classes: Int, dimension: Int, scale: Float) -> [Float] {
    var out = [Float](repeating: 0, count: batch * classes)
    matmulForward(out: &out, inp: images, weight: texts, bias: nil, n: batch, c: dimension, oc: classes)
    for i in out.indices { out[i] *= scale }
    return out
}

/// The feature- and logit-space terms and dL/d(textFeatures) of
/// `L_CE + weights.cos * L_COS + weights.kd * L_KD` (L_WC is added by `weightConsolidation`).
public func featureLoss(_ batch: FeatureLossBatch, weights: LossWeights) -> (terms: LossTerms, dTextFeatures: [Float]) {
    let (b, c, d) = (batch.batchSize, batch.classCount, batch.dimension)
    let tau = batch.logitScale
    var terms = LossTerms()
    var dText = [Float](repeating: 0, count: c * d)

    // L_CE: cross-entropy of softmax_i(tau * cos(I_x, psi(z_i))) with the true class, mean over
    // the batch. dL/d(logits_LAMM) [B, C] gathers the logit-space gradients; dL/dT = tau * dlogits^T . I.
    let lammLogits = logits(batch.imageFeatures, batch.textFeatures, batch: b, classes: c, dimension: d, scale: tau)
    var dLogits: [Float]
    (terms.ce, dLogits) = softmaxCrossEntropy(logits: lammLogits, labels: batch.labels, classes: c)

    // L_KD (official form, T = 2): T^2 * mean_b( - sum_i softmax_i(logits_LAMM/T) * log softmax_i(logits_CLIP/T) ),
    // the gradient flowing through the LAMM softmax only:
    //   dL/dlogits_LAMM[b, j] = -(T / B) * P_bj * (logQ_bj - sum_i P_bi logQ_bi).
    if weights.kd != 0 {
        let t = weights.temperature
        let clipLogits = logits(batch.imageFeatures, batch.clipTextFeatures, batch: b, classes: c, dimension: d, scale: tau)
        let logQ = logSoftmax(clipLogits, rows: b, columns: c, temperature: t)
        let logPT = logSoftmax(lammLogits, rows: b, columns: c, temperature: t)
        for s in 0..<b {
            var expected: Float = 0
            for i in 0..<c { expected += expf(logPT[s * c + i]) * logQ[s * c + i] }
            terms.kd -= t * t * expected / Float(b)
            for j in 0..<c {
                let p = expf(logPT[s * c + j])
                dLogits[s * c + j] -= weights.kd * (t / Float(b)) * p * (logQ[s * c + j] - expected)
            }
        }
    }

    // Carry the logit gradient to the text features: dT [C, D] = tau * dlogits^T [C, B] . I [B, D].
    matmulWeightBackward(dweight: &dText, dbias: nil, dout: dLogits.map { tau * $0 }, inp: batch.imageFeatures, n: b, c: d, oc: c)

    // L_COS = mean over samples of 1 - cos(psi(z_y), psi(y_y)); the official code skips it when the
    // batch holds a single class. Both features are unit vectors, so cos is their dot product.
    if weights.cos != 0, Set(batch.labels).count > 1 {
        for s in 0..<b {
            let y = batch.labels[s]
            var dot: Float = 0
            for k in 0..<d { dot += batch.textFeatures[y * d + k] * batch.clipTextFeatures[y * d + k] }
            terms.cos += (1 - dot) / Float(b)
            for k in 0..<d { dText[y * d + k] -= weights.cos * batch.clipTextFeatures[y * d + k] / Float(b) }
        }
    }
    terms.total = terms.ce + weights.cos * terms.cos + weights.kd * terms.kd
    return (terms, dText)
}

/// L_WC = sum over trainable entries of (theta - theta_ref)^2, and its gradient 2 (theta - theta_ref).
public func weightConsolidation(_ theta: [Float], reference: [Float]) -> (loss: Float, gradient: [Float]) {
    precondition(theta.count == reference.count, "weightConsolidation: shapes differ")
    var loss: Float = 0
    var gradient = [Float](repeating: 0, count: theta.count)
    for i in theta.indices {
        let difference = theta[i] - reference[i]
        loss += difference * difference
        gradient[i] = 2 * difference
    }
    return (loss, gradient)
}
