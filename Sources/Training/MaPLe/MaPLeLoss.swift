// The losses MaPLe and MaPLe+LAMM train with, on a batch of prompted image features.
//
// MaPLe (official trainers/maple.py): L = L_CE, the cross-entropy of
//   logits[b, c] = tau * cos(I_b, psi(z_c)).
// MaPLe+LAMM (the LAMM authors' trainers/maple.py with --triplet-loss) adds LAMM's terms, with
// two differences from LAMM.md that lamm-store reproduces:
//   - the reference features psi(y_c) are the prompts with CLIP's own class tokens under the
//     *current* MaPLe prompts (context and deep prompts), recomputed every step, not frozen
//     CLIP's `a photo of a <class>.`; gradients reach the prompts through them in L_KD;
//   - L_COS averages 1 - cos(psi(z_{y_b}), sg(psi(y_{y_b}))) over the batch's samples b whose
//     batch holds another class (0 when the batch has a single class);
//   - L_KD = T^2 * mean_b CE(softmax(logits_b / T), fix_logits_b / T), fix_logits from psi(y):
//     the official `distillation(logits, fix_logits)`, whose target (the student's own logits)
//     is not detached, so both sides receive gradient.
// L_WC on the label vectors is added by the trainer, weighted 1/n.

import Foundation
import Kernels

/// One batch: L2-normalised image features [B, D], text features psi(z) [K, D] and, for
/// MaPLe+LAMM, reference features psi(y) [K, D] of the same K classes.
struct MaPLeLossBatch {
    var imageFeatures: [Float]
    var labels: [Int]
    var textFeatures: [Float]
    var referenceFeatures: [Float]?
    var logitScale: Float
    var dimension: Int
}

/// Gradients of the loss with respect to the batch's normalised features.
struct MaPLeLossGradients {
    var image: [Float]
    var text: [Float]
    var reference: [Float]
}

/// L_CE, and with `weights` the feature- and logit-space terms, with their gradients.
func mapleLoss(_ batch: MaPLeLossBatch, weights: LossWeights?) -> (LossTerms, MaPLeLossGradients) {
    let d = batch.dimension, b = batch.labels.count, k = batch.textFeatures.count / d
    let tau = batch.logitScale
    var terms = LossTerms()
    // dL/d(logits) and dL/d(fix logits) [B, K] gather the logit-space gradients.
    let z = logits(batch.imageFeatures, batch.textFeatures, batch: b, classes: k, dimension: d, scale: tau)
    var dLogits: [Float]
    (terms.ce, dLogits) = softmaxCrossEntropy(logits: z, labels: batch.labels, classes: k)
    var dText = [Float](repeating: 0, count: k * d)
    var dReference = [Float](repeating: 0, count: batch.referenceFeatures?.count ?? 0)
    var dFix = [Float](repeating: 0, count: b * k)

    if let weights, let reference = batch.referenceFeatures {
        // L_COS over the samples whose batch holds another class; psi(y) is detached here.
        let counted = (0..<b).filter { i in batch.labels.contains { $0 != batch.labels[i] } }
        for i in counted {
            let c = batch.labels[i]
            var dot: Float = 0
            for j in 0..<d { dot += batch.textFeatures[c * d + j] * reference[c * d + j] }
            terms.cos += (1 - dot) / Float(counted.count)
            for j in 0..<d { dText[c * d + j] -= weights.cos * reference[c * d + j] / Float(counted.count) }
        }
        // L_KD = T^2 mean_b sum_c -p_c log q_c, p = softmax(logits / T), q = softmax(fix / T):
        //   dL/d fix = T/B (q - p);  dL/d logits = T/B p (g - <p, g>), g = -log q.
        let t = weights.temperature
        let fix = logits(batch.imageFeatures, reference, batch: b, classes: k, dimension: d, scale: tau)
        let logPT = logSoftmax(z, rows: b, columns: k, temperature: t)
        let logQ = logSoftmax(fix, rows: b, columns: k, temperature: t)
        for i in 0..<b {
            let row = (i * k)..<((i + 1) * k)
            var pg: Float = 0
            for c in row { pg -= expf(logPT[c]) * logQ[c] }
            terms.kd += t * t * pg / Float(b)
            for c in row {
                let (p, q) = (expf(logPT[c]), expf(logQ[c]))
                dFix[c] += weights.kd * t / Float(b) * (q - p)
                dLogits[c] += weights.kd * t / Float(b) * p * (-logQ[c] - pg)
            }
        }
        terms.total = terms.ce + weights.cos * terms.cos + weights.kd * terms.kd
    } else {
        terms.total = terms.ce
    }

    // Back through logits = tau I T^T (and fix = tau I R^T). Plain loops at B x K x D = 4 x 50 x 512
    // keep MaPLe's trajectories (and the demo's figures) as they were; sgemm here changes the
    // rounding, which 50 epochs carry into the figures.
    var dImage = [Float](repeating: 0, count: b * d)
    func accumulate(_ dl: [Float], _ text: [Float], _ dTextOut: inout [Float]) {
        for i in 0..<b {
            for c in 0..<k {
                let g = tau * dl[i * k + c]
                guard g != 0 else { continue }
                for j in 0..<d {
                    dImage[i * d + j] += g * text[c * d + j]
                    dTextOut[c * d + j] += g * batch.imageFeatures[i * d + j]
                }
            }
        }
    }
    accumulate(dLogits, batch.textFeatures, &dText)
    if let reference = batch.referenceFeatures { accumulate(dFix, reference, &dReference) }
    return (terms, MaPLeLossGradients(image: dImage, text: dText, reference: dReference))
}
