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
            // Many-step scenarios: each step's accuracy on the classes seen so far, Avg and Last.
            if d.methods.contains(where: { $0.metrics.steps.count > 2 }) {
                text += "per step (accuracy on the classes seen so far; Avg = mean over steps, Last = after the last step)\n"
                text += TextTable(["method", "step", "stage", "seen", "old", "new", "forgetting", "Avg", "Last"], d.methods.flatMap { m in
                    m.metrics.steps.map { step in
                        [m.method.rawValue, "\(step.step + 1)", d.stages[step.step], percent(step.seen), percent(step.old), percent(step.new),
                         percent(step.forgetting), step.step == m.metrics.steps.count - 1 ? percent(m.metrics.averageIncrementalAccuracy) : "",
                         step.step == m.metrics.steps.count - 1 ? percent(m.metrics.lastAccuracy) : ""]
                    }
                }).text
                text += "\n"
            }
            if !d.sweeps.isEmpty {
                text += "few-shot sweep of '\(d.dataset)': mean +- standard deviation over seeds\n"
                let stageHeaders = d.stages.flatMap { ["\($0) own", "\($0) last"] }
                text += TextTable(["method", "shots", "seeds"] + stageHeaders + ["average accuracy", "published (paper, 11 datasets)"], d.sweeps.map { row in
                    [row.label, "\(row.shots)", row.seeds.map(String.init).joined(separator: ",")]
                        + d.stages.indices.flatMap { k in
                            k < row.stages.count ? [meanDeviation(row.stages[k].afterOwnTraining), meanDeviation(row.stages[k].afterLastStage)] : ["-", "-"]
                        }
                        + [meanDeviation(row.averageAccuracy), percent(row.published)]
                }).text
                text += "\n"
            }
            if !d.crossDataset.isEmpty {
                text += "'\(d.dataset)' snapshots on other datasets (classes matched by name)\n"
                text += TextTable(["snapshot", "method", "on", "stage", "accuracy", "zero-shot", "matched", "unmatched", "published (paper)"],
                                  d.crossDataset.map {
                    ["\($0.snapshot)", $0.method.rawValue, $0.on, $0.stage, percent($0.accuracy), percent($0.baseline), "\($0.matchedClasses)",
                     "\($0.unmatchedClasses.count)", percent($0.published)]
                }).text
                text += "\n"
            }
            if !d.baseToNew.isEmpty {
                text += "base-to-new generalisation of '\(d.dataset)' snapshots (base: the classes trained; new: classes never trained; HM: harmonic mean)\n"
                text += TextTable(["snapshot", "method", "trained to", "new classes", "base", "new", "HM", "CLIP base", "CLIP new", "CLIP HM"],
                                  d.baseToNew.map {
                    ["\($0.snapshot)", $0.method.rawValue + ($0.run.map { " " + $0.description } ?? ""), $0.trainedStage, "\($0.on):\($0.stage)",
                     percent($0.base), percent($0.new), percent($0.harmonicMean),
                     percent($0.baselineBase), percent($0.baselineNew), percent($0.baselineHarmonicMean)]
                }).text
                text += "\n"
            }
        }
        return text + paper.text
    }

    /// One line per lineage and stage (the add-classes lineage and every sweep run), for plotting
    /// elsewhere: `dataset,method,shots,seed,stage,after_own_training,after_last_stage,degradation,zero_shot,published`,
    /// empty cells where there is no value (shots and seed are empty for the add-classes lineage).
    public var csv: String {
        func cell(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "" }
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = ["dataset,method,shots,seed,stage,after_own_training,after_last_stage,degradation,zero_shot,published"]
        for d in datasets {
            for m in d.methods + d.runs {
                for (k, stage) in m.stages.enumerated() {
                    lines.append([field(d.dataset), m.method.rawValue, m.run.map { "\($0.shots)" } ?? "", m.run.map { "\($0.seed)" } ?? "",
                                  field(stage.stage), cell(stage.afterOwnTraining), cell(stage.afterLastStage), cell(stage.degradation),
                                  cell(d.zeroShot[k]), cell(stage.published)].joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func meanDeviation(_ value: MeanDeviation?) -> String {
    value.map { String(format: "%.2f +- %.2f", $0.mean, $0.deviation) } ?? "-"
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
