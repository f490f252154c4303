import Foundation
import Kernels

/// Correct predictions out of a total; accuracy in percent (0-100), as the paper reports it.
public struct Accuracy: Codable, Sendable, Equatable {
    public var correct: Int
    public var total: Int

    public init(correct: Int, total: Int) {
        self.correct = correct
        self.total = total
    }

    public var percent: Double { total == 0 ? 0 : 100 * Double(correct) / Double(total) }
}

/// CLIP's prediction for each image: argmax_i cos(I_x, psi(z_i)). Both inputs L2-normalised:
/// image features [N, D], text features [C, D]; the scores are one sgemm.
public func predictions(imageFeatures: [Float], textFeatures: [Float], dimension: Int) -> [Int] {
    let n = imageFeatures.count / dimension, c = textFeatures.count / dimension
    guard n > 0, c > 0 else { return [] }
    let scores = cosines(imageFeatures: imageFeatures, textFeatures: textFeatures, dimension: dimension)
    return (0..<n).map { row in
        var best = 0
        for i in 1..<c where scores[row * c + i] > scores[row * c + best] { best = i }
        return best
    }
}

/// cos(I_x, psi(z_i)) [N, C] of L2-normalised image features [N, D] and text features [C, D]:
/// one sgemm.
public func cosines(imageFeatures: [Float], textFeatures: [Float], dimension: Int) -> [Float] {
    let n = imageFeatures.count / dimension, c = textFeatures.count / dimension
    var scores = [Float](repeating: 0, count: n * c)
    matmulForward(out: &scores, inp: imageFeatures, weight: textFeatures, bias: nil, n: n, c: dimension, oc: c)
    return scores
}

/// Accuracy of CLIP's predictions against the true labels.
public func accuracy(imageFeatures: [Float], labels: [Int], textFeatures: [Float], dimension: Int) -> Accuracy {
    let predicted = predictions(imageFeatures: imageFeatures, textFeatures: textFeatures, dimension: dimension)
    return Accuracy(correct: zip(predicted, labels).filter { $0 == $1 }.count, total: labels.count)
}

/// Row-wise L2 normalisation of features [N, D] (CLIP compares unit vectors).
public func normalized(_ features: [Float], dimension: Int) -> [Float] {
    l2Normalize(features, rows: features.count / dimension, columns: dimension).out
}

/// One class of a ranking: its place in the label space, its logit and its softmax probability.
public struct RankedClass: Sendable, Equatable {
    public var index: Int
    public var logit: Float
    public var probability: Float

    public init(index: Int, logit: Float, probability: Float) {
        self.index = index
        self.logit = logit
        self.probability = probability
    }
}

/// The `k` most probable classes of each row of logits [N, C], most probable first (ties in
/// label-space order), with probabilities softmax(logits) over all C classes. The row maximum
/// is subtracted before exponentiating, so large logits (CLIP's scale is 100) cannot overflow.
public func topClasses(logits: [Float], classes c: Int, k: Int) -> [[RankedClass]] {
    precondition(c > 0 && logits.count % c == 0 && k > 0, "topClasses: \(logits.count) logits, \(c) classes, k \(k)")
    let n = logits.count / c, k = min(k, c)
    var result = [[RankedClass]](repeating: [], count: n)
    result.withUnsafeMutableBufferPointer { result in
        logits.withUnsafeBufferPointer { logits in
            // Each row is written by one chunk only.
            parallelChunks(n, minimumChunk: 256) { rows in
                for row in rows {
                    let z = logits.baseAddress! + row * c
                    var maximum = z[0]
                    for i in 1..<c where z[i] > maximum { maximum = z[i] }
                    var sum: Float = 0
                    for i in 0..<c { sum += exp(z[i] - maximum) }
                    // Insertion into a sorted list of at most k: the strict `>` keeps the earlier class first on ties.
                    var best: [(index: Int, logit: Float)] = []
                    best.reserveCapacity(k + 1)
                    for i in 0..<c where best.count < k || z[i] > best[best.count - 1].logit {
                        let value = z[i]
                        let place = best.firstIndex { value > $0.logit } ?? best.count
                        best.insert((i, value), at: place)
                        if best.count > k { best.removeLast() }
                    }
                    result[row] = best.map { RankedClass(index: $0.index, logit: $0.logit, probability: exp($0.logit - maximum) / sum) }
                }
            }
        }
    }
    return result
}
