import Testing
@testable import Evaluation

@Suite struct MetricsTests {
    @Test func twoStagesAsInThePaper() {
        // CoOp-like: Set1 80 after its own training, 65 after Set2; Set2 90.
        let r = AccuracyMatrix([[80, 50], [65, 90]])
        let m = ContinualMetrics(r, sampleCounts: [100, 300], baselines: [60, 45])
        let average: Double = (65.0 * 100 + 90 * 300) / 400
        #expect(m.averageAccuracy == average)
        #expect(m.forgettingPerStage == [15, nil])
        #expect(m.forgetting == 15 && m.backwardTransfer == -15)
        #expect(m.forwardTransfer == 5)   // R[0][1] - b_1 = 50 - 45
    }

    /// Per step: the accuracy on the classes seen so far (sample-weighted), its old and new
    /// parts, forgetting so far (from each stage's best earlier accuracy), Avg and Last.
    @Test func stepsAvgAndLastAreThoseOfTheAccuracyMatrix() {
        let r = AccuracyMatrix([[90, nil, nil], [80, 70, nil], [60, 75, 50]])
        let m = ContinualMetrics(r, sampleCounts: [10, 10, 20], baselines: [nil, nil, nil])
        typealias Step = ContinualMetrics.Step
        #expect(m.steps == [Step(step: 0, seen: 90, old: nil, new: 90, forgetting: nil),
                            Step(step: 1, seen: 75, old: 80, new: 70, forgetting: 10),
                            Step(step: 2, seen: 58.75, old: 67.5, new: 50, forgetting: 12.5)])
        #expect(abs(m.averageIncrementalAccuracy! - (90 + 75 + 58.75) / 3) < 1e-12)
        #expect(m.lastAccuracy == 58.75 && m.lastAccuracy == m.averageAccuracy)
    }

    @Test func threeStagesWithoutForgetting() {
        let rows: [[Double?]] = [[84.1, 40, 35], [84.1, 77, 38], [84.1, 77, 88.5]]
        let m = ContinualMetrics(AccuracyMatrix(rows), sampleCounts: [10, 10, 20], baselines: [69.3, 40, 30])
        let expectedForgetting: [Double?] = [0, 0, nil]
        #expect(m.forgettingPerStage == expectedForgetting)
        #expect(m.forgetting == 0 && m.backwardTransfer == 0)
        let average: Double = (84.1 * 10 + 77 * 10 + 88.5 * 20) / 40
        #expect(abs(m.averageAccuracy! - average) < 1e-12)
        let transfer: Double = ((40 - 40) + (38 - 30)) / 2
        #expect(abs(m.forwardTransfer! - transfer) < 1e-12)
    }

    @Test func fourStagesWithMixedForgetting() {
        let r = AccuracyMatrix([
            [90, nil, nil, nil],
            [80, 70, nil, nil],
            [75, 72, 60, nil],
            [70, 60, 65, 50],
        ])
        let m = ContinualMetrics(r, sampleCounts: [1, 1, 1, 1], baselines: [50, 50, 50, 50])
        #expect(m.forgettingPerStage == [20, 10, -5, nil])
        #expect(abs(m.forgetting! - 25.0 / 3) < 1e-12)
        #expect(abs(m.backwardTransfer! + 25.0 / 3) < 1e-12)
        #expect(m.averageAccuracy == 61.25)
        #expect(m.forwardTransfer == nil)   // no stage was evaluated before its training
    }

    @Test func aMissingEvaluationIsLeftOutOfTheMeans() {
        let r = AccuracyMatrix([[80, 30, nil], [nil, 70, 20], [60, 65, 90]])
        let m = ContinualMetrics(r, sampleCounts: [10, 10, 10], baselines: [50, 25, nil])
        #expect(m.forgettingPerStage == [20, 5, nil])
        #expect(m.forgetting == 12.5)
        #expect(m.forwardTransfer == 5)   // only stage 1 has both R[0][1] and b_1
        let empty = ContinualMetrics(AccuracyMatrix([[nil, nil], [nil, nil]]), sampleCounts: [0, 0], baselines: [nil, nil])
        #expect(empty.averageAccuracy == nil && empty.forgetting == nil && empty.forwardTransfer == nil)
    }

    @Test func oneStageHasNoForgetting() {
        let m = ContinualMetrics(AccuracyMatrix([[77]]), sampleCounts: [5], baselines: [60])
        #expect(m.averageAccuracy == 77 && m.forgetting == nil && m.forwardTransfer == nil && m.forgettingPerStage == [nil])
    }
}
