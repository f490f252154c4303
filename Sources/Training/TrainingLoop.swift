import CLIP
import Foundation

extension LAMMConfiguration {
    /// The official code's training loop (Dassl), shared by every trainer: per epoch the
    /// schedule's learning rate and a fresh shuffle of the samples, full batches (the last
    /// incomplete one dropped when the data hold at least one full batch), one SGD step per batch
    /// on `values`, the divergence check, progress, and the epoch's mean loss terms.
    /// `objective(values, batch, epoch)` gives a batch's loss terms and gradient.
    func trainEpochs(
        samples sampleCount: Int, values: inout [Float], random: inout SplitMix64, start: Date,
        progress: ((TrainingProgress) -> Void)?,
        objective: (_ values: [Float], _ batch: ArraySlice<Int>, _ epoch: Int) throws -> (LossTerms, [Float])
    ) throws -> (curve: [EpochLoss], steps: Int) {
        let batchSize = min(self.batchSize, sampleCount)
        let stepsPerEpoch = max(sampleCount / max(batchSize, 1), 1)
        let totalSteps = stepsPerEpoch * epochs
        var optimizer = SGD(momentum: momentum, weightDecay: weightDecay)
        var curve: [EpochLoss] = []
        var step = 0
        var first = LossTerms()
        var order = Array(0..<sampleCount)
        for epoch in 0..<epochs {
            let learningRate = schedule.learningRate(epoch: epoch)
            order.shuffle(using: &random)
            var sum = LossTerms()
            for s in 0..<stepsPerEpoch {
                let (terms, gradient) = try objective(values, order[(s * batchSize)..<((s + 1) * batchSize)], epoch)
                optimizer.step(&values, gradient: gradient, learningRate: learningRate)
                step += 1
                try requireFinite(terms, values, epoch: epoch, step: s)
                if step == 1 { first = terms }
                try requireBounded(terms, first: first, epoch: epoch, step: s)
                sum.ce += terms.ce; sum.wc += terms.wc; sum.cos += terms.cos; sum.kd += terms.kd; sum.total += terms.total
                if let progress {
                    let elapsed = Date().timeIntervalSince(start)
                    progress(TrainingProgress(epoch: epoch, epochs: epochs, step: s, stepsPerEpoch: stepsPerEpoch, terms: terms,
                                              learningRate: learningRate, elapsed: elapsed,
                                              remaining: elapsed / Double(step) * Double(totalSteps - step)))
                }
            }
            let n = Float(stepsPerEpoch)
            curve.append(EpochLoss(epoch: epoch, learningRate: learningRate,
                                   terms: LossTerms(ce: sum.ce / n, wc: sum.wc / n, cos: sum.cos / n, kd: sum.kd / n, total: sum.total / n)))
        }
        return (curve, step)
    }
}
