// Continual-learning metrics over an accuracy matrix, with the definitions Avalanche uses
// (and GEM before it). Stages are numbered 0..<T in training order.
//
//   R[t][k]   accuracy (%) on stage k after training stage t; nil where it was not evaluated.
//   ACC       average accuracy after the last stage, weighted by each stage's sample count.
//   F_k       forgetting of stage k: R[k][k] - R[T-1][k]; reported averaged over k < T-1.
//   BWT       backward transfer: the mean of R[T-1][k] - R[k][k] over k < T-1, i.e. -forgetting.
//   FWT       forward transfer: the mean over k >= 1 of R[k-1][k] - b_k, where R[k-1][k] is stage
//             k before it is trained and b_k is zero-shot CLIP's accuracy on stage k.
//
// Per step t (the class-incremental papers' tables: PyCIL, Continual-CLIP): the accuracy on all
// classes seen so far A_t (stages 0...t after step t, weighted by their sample counts), its
// old (stages before t) and new (stage t) parts, and the forgetting so far, the mean over k < t
// of max over t' in k..<t of R[t'][k] minus R[t][k]. Avg is the mean of A_t over the steps
// (average incremental accuracy), Last is A_{T-1}. Under the task protocol each stage is scored
// among its own classes (task-IL); under the class protocol among all classes seen (class-IL).

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
    /// Each step's accuracy on the classes seen so far, old and new, and forgetting so far.
    public var steps: [Step] = []
    /// Avg: the mean over steps of the accuracy on the classes seen so far.
    public var averageIncrementalAccuracy: Double?
    /// Last: the accuracy on every class seen after the last step.
    public var lastAccuracy: Double?

    public struct Step: Codable, Sendable, Equatable, EncodesNilAsNull {
        public var step: Int
        public var seen: Double?
        public var old: Double?
        public var new: Double?
        public var forgetting: Double?
    }

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
        /// Stages `ks` after step t, weighted by their sample counts; nil when none was evaluated.
        func weightedMean(step t: Int, _ ks: Range<Int>) -> Double? {
            var weighted = 0.0, weight = 0
            for k in ks where sampleCounts[k] > 0 {
                if let a = r[t, k] {
                    weighted += a * Double(sampleCounts[k])
                    weight += sampleCounts[k]
                }
            }
            return weight > 0 ? weighted / Double(weight) : nil
        }
        averageAccuracy = last >= 0 ? weightedMean(step: last, 0..<(last + 1)) : nil
        steps = (0..<max(r.stageCount, 0)).map { t in
            let drops = (0..<t).map { k -> Double? in
                guard let now = r[t, k] else { return nil }
                let best = (k..<t).compactMap { r[$0, k] }.max()
                return best.map { $0 - now }
            }
            return Step(step: t, seen: weightedMean(step: t, 0..<(t + 1)), old: t > 0 ? weightedMean(step: t, 0..<t) : nil,
                        new: weightedMean(step: t, t..<(t + 1)), forgetting: t > 0 ? mean(drops) : nil)
        }
        averageIncrementalAccuracy = mean(steps.map(\.seen))
        lastAccuracy = steps.last?.seen ?? nil
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
