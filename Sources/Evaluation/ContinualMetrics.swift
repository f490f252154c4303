// Continual-learning metrics over an accuracy matrix, with the definitions Avalanche uses
// (and GEM before it). Stages are numbered 0..<T in training order.
//
//   R[t][k]   accuracy (%) on stage k after training stage t; nil where it was not evaluated.
//   ACC       average accuracy after the last stage, weighted by each stage's sample count.
//   F_k       forgetting of stage k: R[k][k] - R[T-1][k]; reported averaged over k < T-1.
//   BWT       backward transfer: the mean of R[T-1][k] - R[k][k] over k < T-1, i.e. -forgetting.
//   FWT       forward transfer: the mean over k >= 1 of R[k-1][k] - b_k, where R[k-1][k] is stage
//             k before it is trained and b_k is zero-shot CLIP's accuracy on stage k.

import Formats

/// R[t][k]: rows are "after training stage t", columns "evaluated on stage k".
public struct AccuracyMatrix: Codable, Sendable, Equatable {
    public var values: [[Double?]]

    public init(_ values: [[Double?]]) {
        precondition(values.allSatisfy { $0.count == values.count }, "AccuracyMatrix: the matrix must be square")
        self.values = values
    }

    public var stageCount: Int { values.count }

    public subscript(t: Int, k: Int) -> Double? { values[t][k] }
}

public struct ContinualMetrics: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var averageAccuracy: Double?
    public var forgetting: Double?
    public var backwardTransfer: Double?
    public var forwardTransfer: Double?
    /// F_k per stage (nil for the last stage and where an evaluation is missing).
    public var forgettingPerStage: [Double?]

    public init(averageAccuracy: Double?, forgetting: Double?, backwardTransfer: Double?, forwardTransfer: Double?,
                forgettingPerStage: [Double?]) {
        self.averageAccuracy = averageAccuracy
        self.forgetting = forgetting
        self.backwardTransfer = backwardTransfer
        self.forwardTransfer = forwardTransfer
        self.forgettingPerStage = forgettingPerStage
    }

    /// Metrics of a matrix; `sampleCounts[k]` weighs stage k in the average accuracy and
    /// `baselines[k]` is zero-shot CLIP's accuracy on stage k. Entries that are missing are
    /// left out of each mean (a mean of nothing is nil).
    public init(_ r: AccuracyMatrix, sampleCounts: [Int], baselines: [Double?]) {
        let last = r.stageCount - 1
        func mean(_ xs: [Double?]) -> Double? {
            let present = xs.compactMap { $0 }
            return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
        }
        var weighted = 0.0, weight = 0
        if last >= 0 {
            for k in 0...last {
                if let a = r[last, k], sampleCounts[k] > 0 {
                    weighted += a * Double(sampleCounts[k])
                    weight += sampleCounts[k]
                }
            }
        }
        averageAccuracy = weight > 0 ? weighted / Double(weight) : nil
        forgettingPerStage = (0..<max(r.stageCount, 0)).map { k in
            guard k < last, let own = r[k, k], let final = r[last, k] else { return nil }
            return own - final
        }
        forgetting = last > 0 ? mean(Array(forgettingPerStage.prefix(last))) : nil
        backwardTransfer = forgetting.map { 0 - $0 }  // 0 - x, so no forgetting prints as 0.00, not -0.00
        forwardTransfer = r.stageCount > 1 ? mean((1..<r.stageCount).map { k in
            guard let before = r[k - 1, k], let b = baselines[k] else { return nil }
            return before - b
        }) : nil
    }
}
