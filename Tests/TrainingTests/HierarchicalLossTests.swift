import CLIP
import Foundation
import Testing
@testable import Training

@Suite struct HierarchicalLossTests {
    func batch(classes: Int = 4, samples: Int = 6, singleClass: Bool = false, seed: UInt64 = 3) -> FeatureLossBatch {
        var random = SplitMix64(seed: seed)
        let d = 8
        return FeatureLossBatch(imageFeatures: unitVectors(samples, d, random: &random),
                                labels: (0..<samples).map { singleClass ? 2 : $0 % classes },
                                textFeatures: unitVectors(classes, d, random: &random),
                                clipTextFeatures: unitVectors(classes, d, random: &random),
                                logitScale: 10, dimension: d)
    }

    /// Central differences in Double around the Float loss: step 1e-3, checked to 2e-3 of the
    /// gradient's largest entry.
    func checkGradient(_ batch: FeatureLossBatch, _ weights: LossWeights) {
        let (_, gradient) = featureLoss(batch, weights: weights)
        let scale = gradient.map(abs).max()!
        #expect(scale > 0)
        var worst: (Float, Int) = (0, 0)
        for i in gradient.indices {
            var plus = batch, minus = batch
            plus.textFeatures[i] += 1e-3
            minus.textFeatures[i] -= 1e-3
            let numeric = (featureLoss(plus, weights: weights).terms.total - featureLoss(minus, weights: weights).terms.total) / 2e-3
            let error = abs(numeric - gradient[i])
            if error > worst.0 { worst = (error, i) }
        }
        #expect(worst.0 <= 2e-3 * scale, "worst |numeric - analytic| = \(worst.0) at \(worst.1), scale \(scale)")
    }

    @Test func featureTermsMatchFiniteDifferences() {
        checkGradient(batch(), LossWeights(wc: 0.25, cos: 1, kd: 0.05, temperature: 2))
        checkGradient(batch(), LossWeights(wc: 0, cos: 0, kd: 1, temperature: 2))
        checkGradient(batch(), LossWeights(wc: 0, cos: 1, kd: 0, temperature: 2))
        checkGradient(batch(seed: 9), LossWeights(wc: 0, cos: 0.3, kd: 0.7, temperature: 0.5))
    }

    @Test func termValuesFollowTheirDefinitions() {
        let b = batch()
        let (terms, _) = featureLoss(b, weights: LossWeights(wc: 0, cos: 1, kd: 1, temperature: 2))
        // Recompute each term naively in Double.
        let d = b.dimension, c = 4
        func dot(_ x: ArraySlice<Float>, _ y: ArraySlice<Float>) -> Double { zip(x, y).map { Double($0) * Double($1) }.reduce(0, +) }
        var ce = 0.0, cos = 0.0, kd = 0.0
        for s in 0..<b.labels.count {
            let image = b.imageFeatures[(s * d)..<((s + 1) * d)]
            let lamm = (0..<c).map { 10 * dot(image, b.textFeatures[($0 * d)..<(($0 + 1) * d)]) }
            let clip = (0..<c).map { 10 * dot(image, b.clipTextFeatures[($0 * d)..<(($0 + 1) * d)]) }
            func logSoftmax(_ x: [Double], _ t: Double) -> [Double] {
                let m = x.map { $0 / t }.max()!
                let z = log(x.map { exp($0 / t - m) }.reduce(0, +)) + m
                return x.map { $0 / t - z }
            }
            let y = b.labels[s]
            ce -= logSoftmax(lamm, 1)[y]
            let p = logSoftmax(lamm, 2).map(exp), q = logSoftmax(clip, 2)
            kd -= 4 * zip(p, q).map(*).reduce(0, +)
            cos += 1 - dot(b.textFeatures[(y * d)..<((y + 1) * d)], b.clipTextFeatures[(y * d)..<((y + 1) * d)])
        }
        let n = Double(b.labels.count)
        #expect(abs(Double(terms.ce) - ce / n) < 1e-4)
        #expect(abs(Double(terms.kd) - kd / n) < 1e-4)
        #expect(abs(Double(terms.cos) - cos / n) < 1e-5)
        #expect(abs(terms.total - (terms.ce + terms.cos + terms.kd)) < 1e-5)
    }

    @Test func cosineTermIsSkippedForASingleClassBatch() {
        let (terms, gradient) = featureLoss(batch(singleClass: true), weights: LossWeights(wc: 0, cos: 1, kd: 0))
        let (ceOnly, ceGradient) = featureLoss(batch(singleClass: true), weights: LossWeights(wc: 0, cos: 0, kd: 0))
        #expect(terms.cos == 0)
        #expect(terms.total == ceOnly.total && gradient == ceGradient)
    }

    @Test func weightConsolidationIsTheSquaredDistance() {
        let (loss, gradient) = weightConsolidation([1, 2, 3], reference: [1, 0, 4])
        #expect(loss == 5)
        #expect(gradient == [0, 4, -2])
    }

    @Test func paperWeights() {
        #expect(LossWeights.paper(shots: 16) == LossWeights(wc: 1.0 / 16, cos: 1, kd: 0.05, temperature: 2))
        var configuration = LAMMConfiguration()
        #expect(configuration.lossWeights(shots: 4).wc == 0.25)
        configuration.lambdaWC = 0
        #expect(configuration.lossWeights(shots: 4).wc == 0)
    }
}

@Suite struct OptimiserTests {
    @Test func sgdFollowsPyTorch() {
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), two steps with gradients 1 then -2:
        //   g1 = 1 + 0.01*1 = 1.01; buf = 1.01; p = 1 - 0.101 = 0.899
        //   g2 = -2 + 0.00899 = -1.99101; buf = 0.909 - 1.99101 = -1.08201; p = 0.899 + 0.108201 = 1.007201
        var sgd = SGD(momentum: 0.9, weightDecay: 0.01)
        var p: [Float] = [1]
        sgd.step(&p, gradient: [1], learningRate: 0.1)
        #expect(abs(p[0] - 0.899) < 1e-6)
        sgd.step(&p, gradient: [-2], learningRate: 0.1)
        #expect(abs(p[0] - 1.007201) < 1e-6)
    }

    @Test func warmupThenCosine() {
        let schedule = LearningRateSchedule(baseLearningRate: 0.002, epochs: 50, warmupEpochs: 1, warmupLearningRate: 1e-5)
        #expect(schedule.learningRate(epoch: 0) == 1e-5)
        #expect(schedule.learningRate(epoch: 1) == 0.002)
        #expect(abs(schedule.learningRate(epoch: 26) - 0.001) < 1e-9)
        #expect(schedule.learningRate(epoch: 49) < schedule.learningRate(epoch: 48))
        #expect(schedule.learningRate(epoch: 49) > 0)
    }
}
