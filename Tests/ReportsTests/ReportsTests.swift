import Evaluation
import Foundation
@testable import Reports
import Store
import Testing

@Suite struct ReportsTests {
    /// One dataset, two stages; LAMM reached only the first, and the paper has no cells for it.
    let comparison = Comparison(protocol: .task, split: .test, datasets: [
        DatasetComparison(
            dataset: "zoo <1>", stages: ["Set1", "Set2"], sampleCounts: [10, 10], zeroShot: [40, nil], zeroShotPublished: [nil, nil],
            methods: [
                MethodComparison(
                    method: .lamm, snapshots: [1], matrix: AccuracyMatrix([[90]]),
                    stages: [StageComparison(stage: "Set1", afterOwnTraining: 90, afterLastStage: 88.5, degradation: -1.5, published: nil)],
                    metrics: ContinualMetrics(averageAccuracy: 88.5, forgetting: 1.5, backwardTransfer: -1.5, forwardTransfer: nil,
                                              forgettingPerStage: [nil])),
            ],
            published: []),
    ])

    @Test func textTablesPadEveryColumnToItsWidestCellAndTrimTheLineEnd() {
        #expect(TextTable(["a", "long header", "c"], [["wide cell", "x", ""], ["b", "y", "z"]]).text == """
            a          long header  c
            wide cell  x
            b          y            z

            """)
        #expect(TextTable(["only"], []).text == "only\n")
    }

    @Test func theComparisonPrintsZeroShotRowsThenEachMethodsStagesThenItsMetrics() {
        #expect(comparison.text == """
            dataset 'zoo <1>' (protocol task, split test)
            method          stage  after own training  after last stage  degradation  published (paper)
            zero-shot CLIP  Set1   40.00               40.00             +0.00        -
            zero-shot CLIP  Set2   -                   -                 +0.00        -
            lamm            Set1   90.00               88.50             -1.50        -

            method  average accuracy  forgetting  backward transfer  forward transfer
            lamm    88.50             1.50        -1.50              -


            """)
    }

    @Test func thePageEscapesNamesAndDrawsEachMethodsMatrix() {
        let page = comparison.html(title: "a & b")
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.contains("<title>a &amp; b</title>"))
        #expect(page.contains("<h2>Dataset zoo &lt;1&gt;</h2>"))
        #expect(!page.contains("zoo <1>"))
        #expect(page.contains("lamm: accuracy matrix R[t][k]"))
        #expect(page.contains("<title>R[0][0] = 90.00</title>"))
        // Set2, which LAMM did not reach, is a row of dashes.
        #expect(page.contains("<td>-</td><td>-</td><td>-</td><td class=\"published\">-</td>"))
    }
}
