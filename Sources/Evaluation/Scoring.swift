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
    var scores = [Float](repeating: 0, count: n * c)
    matmulForward(out: &scores, inp: imageFeatures, weight: textFeatures, bias: nil, n: n, c: dimension, oc: c)
    return (0..<n).map { row in
        var best = 0
        for i in 1..<c where scores[row * c + i] > scores[row * c + best] { best = i }
        return best
    }
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
