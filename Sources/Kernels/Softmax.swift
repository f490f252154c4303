// Softmax over the rows of logits, and cross-entropy with its gradient: the logit-space
// pieces every loss builds on (HierarchicalLoss.swift, MaPLeLoss.swift).

import Foundation

/// Row-wise log-softmax of x [rows, columns] / temperature; the row maximum is subtracted
/// before exponentiating, so CLIP's logit scale (100) cannot overflow.
public func logSoftmax(_ x: [Float], rows: Int, columns: Int, temperature: Float = 1) -> [Float] {
    precondition(x.count == rows * columns, "logSoftmax: \(x.count) values is not \(rows) x \(columns)")
    var out = [Float](repeating: 0, count: x.count)
    for r in 0..<rows {
        let row = r * columns
        var maximum = -Float.infinity
        for c in 0..<columns { maximum = max(maximum, x[row + c] / temperature) }
        var sum: Float = 0
        for c in 0..<columns { sum += expf(x[row + c] / temperature - maximum) }
        let logSum = maximum + logf(sum)
        for c in 0..<columns { out[row + c] = x[row + c] / temperature - logSum }
    }
    return out
}

/// Cross-entropy of softmax(logits) [B, C] with the true classes, mean over the B rows, and its
/// gradient dL/d(logits) = (softmax(logits) - onehot(label)) / B.
public func softmaxCrossEntropy(logits: [Float], labels: [Int], classes c: Int) -> (loss: Float, dLogits: [Float]) {
    let b = labels.count
    let logP = logSoftmax(logits, rows: b, columns: c)
    var loss: Float = 0
    var dLogits = [Float](repeating: 0, count: b * c)
    for s in 0..<b {
        let y = labels[s]
        loss -= logP[s * c + y] / Float(b)
        for i in 0..<c { dLogits[s * c + i] = (expf(logP[s * c + i]) - (i == y ? 1 : 0)) / Float(b) }
    }
    return (loss, dLogits)
}
