import Continual
import Foundation

/// Left-aligned text columns, as the commands print their plain (non-JSON) output.
public struct TextTable: Sendable, Equatable {
    public var header: [String]
    public var rows: [[String]]

    public init(_ header: [String], _ rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    /// The header and the rows, each line ending in a line break.
    public var text: String {
        let widths = header.indices.map { column in
            ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}

extension Comparison {
    /// Per dataset: each method's stages beside zero-shot CLIP and the paper, then the metrics.
    public var text: String {
        var text = ""
        for d in datasets {
            text += "dataset '\(d.dataset)' (protocol \(`protocol`.rawValue), split \(split.rawValue))\n"
            var rows: [[String]] = []
            for (k, stage) in d.stages.enumerated() {
                rows.append(["zero-shot CLIP", stage, percent(d.zeroShot[k]), percent(d.zeroShot[k]), "+0.00", percent(d.zeroShotPublished[k])])
            }
            for m in d.methods {
                for s in m.stages {
                    rows.append([m.method.rawValue, s.stage, percent(s.afterOwnTraining), percent(s.afterLastStage),
                                 signed(s.degradation), percent(s.published)])
                }
            }
            text += TextTable(["method", "stage", "after own training", "after last stage", "degradation", "published (paper)"], rows).text
            text += "\n"
            text += TextTable(["method", "average accuracy", "forgetting", "backward transfer", "forward transfer"], d.methods.map { m in
                [m.method.rawValue, percent(m.metrics.averageAccuracy), percent(m.metrics.forgetting),
                 percent(m.metrics.backwardTransfer), percent(m.metrics.forwardTransfer)]
            }).text
            text += "\n"
        }
        return text
    }
}

extension SnapshotEvaluation {
    /// Each stage's accuracy beside zero-shot CLIP and the accuracy when it was trained, then the average.
    public var text: String {
        TextTable(["stage", "accuracy", "zero-shot", "when trained", "degradation", "correct/total"], stages.map {
            [$0.stage, percent($0.accuracy), percent($0.baseline), percent($0.accuracyWhenTrained), signed($0.degradation), "\($0.correct)/\($0.total)"]
        }).text + String(format: "average accuracy: %.2f", averageAccuracy) + "\n"
    }
}

/// Percentages as every report prints them; "-" where there is no value.
func percent(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }
func signed(_ value: Double?) -> String { value.map { String(format: "%+.2f", $0) } ?? "-" }
