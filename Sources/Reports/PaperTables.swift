// The sweep runs of every dataset compared, in the layouts of the paper (LAMM.md): Table 3
// (methods with and without the hierarchical loss x shots), Table 4 (LAMM's loss terms at 16
// shots), Table 5 (random against class-name initialisation x shots) and Figure 3 (accuracy
// against shots per dataset and on average, one line per method, error bars over seeds).
// A cell is the runs' average accuracy after their last stage (as `compare`'s sweep rows),
// averaged over the datasets that have the run for each seed, then mean +- standard deviation
// over the seeds; beside it the paper's cell, labelled as published.

import Formats
import Foundation
import Methods
import Store

public struct PaperTables: Codable, Sendable, Equatable, EncodesNilAsNull {
    public struct Cell: Codable, Sendable, Equatable, EncodesNilAsNull {
        /// Over seeds, of each seed's mean over datasets; nil when no run exists.
        public var value: MeanDeviation?
        /// Datasets with at least one run of the cell.
        public var datasets: Int
        public var published: Double?
    }

    public struct Row: Codable, Sendable, Equatable, EncodesNilAsNull {
        /// The paper's name of the row: `LAMM (w/o HL)`, `without WC`, `random initialisation`.
        public var label: String
        public var method: Method
        public var variant: String?
        public var cells: [Cell]
    }

    public struct Table: Codable, Sendable, Equatable {
        public var number: Int
        public var title: String
        public var columns: [String]
        public var rows: [Row]
    }

    /// One panel of Figure 3: a dataset, or the average over datasets.
    public struct Panel: Codable, Sendable, Equatable {
        public struct Series: Codable, Sendable, Equatable {
            public var label: String
            /// (shots, mean +- sd over seeds), in shot order.
            public var points: [Point]
            /// Zero-shot CLIP, the same at every shot count: drawn dashed.
            public var reference = false
        }

        public struct Point: Codable, Sendable, Equatable {
            public var shots: Int
            public var value: MeanDeviation
        }

        public var title: String
        public var shots: [Int]
        public var series: [Series]
    }

    /// The datasets whose runs are averaged.
    public var datasets: [String]
    public var table3: Table?
    public var table4: Table?
    public var table5: Table?
    public var figure3: [Panel]

    /// The runs of one (method, variant, shots) on every dataset: seed -> dataset -> accuracy.
    typealias Runs = [UInt64: [String: Double]]

    init(datasets: [DatasetComparison], published: [Int: [PublishedResultRecord]]) {
        let withRuns = datasets.filter { !$0.runs.isEmpty }
        self.datasets = withRuns.map(\.dataset)
        var runs: [String: Runs] = [:]
        func key(_ method: Method, _ variant: String?, _ shots: Int) -> String { "\(method.rawValue) \(variant ?? "full") \(shots)" }
        for dataset in withRuns {
            for run in dataset.runs {
                guard let tag = run.run, let accuracy = run.metrics.averageAccuracy else { continue }
                runs[key(run.method, tag.variant, tag.shots), default: [:]][tag.seed, default: [:]][dataset.dataset] = accuracy
            }
        }
        // Zero-shot CLIP on each dataset: its stages' accuracies weighted by their test rows.
        let zeroShotByDataset = withRuns.map { d -> Double? in
            let weighted = zip(d.zeroShot, d.sampleCounts).compactMap { accuracy, count in accuracy.map { ($0 * Double(count), Double(count)) } }
            let total = weighted.map(\.1).reduce(0, +)
            return total > 0 ? weighted.map(\.0).reduce(0, +) / total : nil
        }
        let allRuns = withRuns.flatMap { d in d.runs.compactMap { r in r.run.map { (r.method, $0) } } }
        func shots(_ method: Method? = nil, _ variants: Set<String?>? = nil) -> [Int] {
            Set(allRuns.filter { method == nil || $0.0 == method! }.filter { variants == nil || variants!.contains($0.1.variant) }.map(\.1.shots)).sorted()
        }
        func cell(_ method: Method, _ variant: String?, _ shots: Int, published: Double?) -> Cell {
            let bySeed = runs[key(method, variant, shots)] ?? [:]
            let means = bySeed.keys.sorted().map { seed -> Double? in
                let values = Array(bySeed[seed]!.values)
                return values.reduce(0, +) / Double(values.count)
            }
            return Cell(value: MeanDeviation(means), datasets: Set(bySeed.values.flatMap(\.keys)).count, published: published)
        }
        func has(_ method: Method, _ variant: String?) -> Bool { allRuns.contains { $0.0 == method && $0.1.variant == variant } }
        func publishedCell(_ table: Int, method: String, setting: String? = nil, column: String) -> Double? {
            published[table]?.first { $0.method == method && (setting == nil || $0.setting == setting) && $0.columnName == column }?.value
        }

        // Table 3: zero-shot CLIP, then each method without and with the hierarchical loss.
        let table3Shots = shots(nil, [nil, "no-hl"])
        if !table3Shots.isEmpty {
            let columns = table3Shots.map { "\($0)-shot" }
            let zeroShot = zeroShotByDataset.compactMap { $0 }
            var rows = [Row(label: "Zero-shot CLIP", method: .zeroshot, variant: nil, cells: columns.map { column in
                Cell(value: zeroShot.isEmpty ? nil : MeanDeviation([zeroShot.reduce(0, +) / Double(zeroShot.count)]), datasets: zeroShot.count,
                     published: publishedCell(3, method: "Zero-shot CLIP", column: column))
            })]
            for method in Method.allCases where method != .zeroshot {
                let name = PublishedNames.methods[method] ?? method.rawValue
                for (variant, label) in [("no-hl", name + " (w/o HL)"), (nil, name)] as [(String?, String)] where has(method, variant) {
                    rows.append(Row(label: label, method: method, variant: variant, cells: table3Shots.map {
                        cell(method, variant, $0, published: publishedCell(3, method: label, column: "\($0)-shot"))
                    }))
                }
            }
            table3 = Table(number: 3, title: "Average over datasets by shots (with and without the hierarchical loss, HL)", columns: columns, rows: rows)
        }

        // Table 4: LAMM's loss terms (cross-entropy always on), at 16 shots or the most there are.
        let termVariants: [(String?, String)] = [("no-hl", "CE only"), (nil, "all four"), ("no-wc", "without WC"), ("no-cos", "without COS"),
                                                  ("no-kd", "without KD"), ("kd-only", "KD only"), ("cos-only", "COS only"), ("wc-only", "WC only")]
        let onlyTable4 = Set(["no-wc", "no-cos", "no-kd", "kd-only", "cos-only", "wc-only"])
        if allRuns.contains(where: { $0.0 == .lamm && $0.1.variant.map(onlyTable4.contains) == true }),
           let at = shots(.lamm, Set(termVariants.map(\.0))).last {
            table4 = Table(number: 4, title: "LAMM by the loss terms used (CE always on), \(at) shots", columns: ["\(at)-shot"], rows:
                termVariants.filter { has(.lamm, $0.0) }.map { variant, label in
                    Row(label: label, method: .lamm, variant: variant, cells: [
                        cell(.lamm, variant, at, published: at == 16 ? publishedCell(4, method: "LAMM", setting: label, column: "16-shot average") : nil)])
                })
        }

        // Table 5: random against class-name initialisation of the label vectors.
        if has(.lamm, "random-init") {
            let table5Shots = shots(.lamm, ["random-init", nil])
            let rows = [("random-init", "random initialisation"), (nil, "class-name initialisation")] as [(String?, String)]
            table5 = Table(number: 5, title: "LAMM by the initialisation of the label vectors", columns: table5Shots.map { "\($0)-shot" }, rows:
                rows.filter { has(.lamm, $0.0) }.map { variant, label in
                    Row(label: label, method: .lamm, variant: variant, cells: table5Shots.map {
                        cell(.lamm, variant, $0, published: publishedCell(5, method: "LAMM", setting: label, column: "\($0)-shot"))
                    })
                })
        }

        // Figure 3: each method's full runs (the ablations are Tables 3-5's) on every dataset and
        // on their average, by shots, beside zero-shot CLIP.
        func zeroShotSeries(_ accuracy: Double?, shots: [Int]) -> [Panel.Series] {
            guard let accuracy, let value = MeanDeviation([accuracy]) else { return [] }
            return [Panel.Series(label: "Zero-shot CLIP", points: shots.map { Panel.Point(shots: $0, value: value) }, reference: true)]
        }
        var panels = zip(withRuns, zeroShotByDataset).compactMap { d, zeroShot -> Panel? in
            let full = d.sweeps.filter { $0.variant == nil }
            guard !full.isEmpty else { return nil }
            var methods: [Method] = []
            for row in full where !methods.contains(row.method) { methods.append(row.method) }
            let shots = Set(full.map(\.shots)).sorted()
            return Panel(title: d.dataset, shots: shots, series: zeroShotSeries(zeroShot, shots: shots) + methods.map { method in
                Panel.Series(label: method.rawValue, points: full.filter { $0.method == method }.compactMap { row in
                    row.averageAccuracy.map { Panel.Point(shots: row.shots, value: $0) }
                })
            })
        }
        if withRuns.count > 1 {
            let methods = Method.allCases.filter { has($0, nil) }
            let all = shots(nil, [nil])
            let zeroShots = zeroShotByDataset.compactMap { $0 }
            let zeroShot = zeroShots.isEmpty ? nil : zeroShots.reduce(0, +) / Double(zeroShots.count)
            panels.append(Panel(title: "Average over \(withRuns.count) datasets", shots: all,
                                series: zeroShotSeries(zeroShot, shots: all) + methods.map { method in
                Panel.Series(label: method.rawValue, points: all.compactMap { shots in
                    cell(method, nil, shots, published: nil).value.map { Panel.Point(shots: shots, value: $0) }
                })
            }))
        }
        figure3 = panels
    }

    public var tables: [Table] { [table3, table4, table5].compactMap { $0 } }

    /// The tables as Markdown (GitHub tables): mean +- sd, the published cell in parentheses.
    public var markdown: String {
        var text = "<!-- lamm-store compare --markdown: \(datasets.count) dataset(s): \(datasets.joined(separator: ", ")). "
            + "Cells: mean ± sd over seeds of the average over datasets; (published) is the paper's cell. -->\n"
        for table in tables {
            text += "\n**Table \(table.number).** \(table.title)\n\n"
            text += "| Method | " + table.columns.joined(separator: " | ") + " |\n"
            text += "|---|" + table.columns.map { _ in "---:|" }.joined() + "\n"
            for row in table.rows {
                text += "| \(row.label) | " + row.cells.map { cell in
                    Self.text(cell.value, plusMinus: " ± ") + (cell.published.map { String(format: " (%.2f)", $0) } ?? "")
                }.joined(separator: " | ") + " |\n"
            }
        }
        return text
    }

    /// The tables as LaTeX `tabular`s (booktabs), one `table` each.
    public var latex: String {
        var text = "% lamm-store compare --latex: \(datasets.count) dataset(s): \(datasets.joined(separator: ", ")).\n"
            + "% Cells: mean $\\pm$ sd over seeds of the average over datasets; (published) is the paper's cell. Needs \\usepackage{booktabs}.\n"
        for table in tables {
            text += "\n\\begin{table}[t]\n\\centering\n\\caption{\(Self.latexEscape(table.title)) (as the paper's Table \(table.number))}\n"
            text += "\\begin{tabular}{l" + String(repeating: "r", count: table.columns.count) + "}\n\\toprule\n"
            text += "Method & " + table.columns.map(Self.latexEscape).joined(separator: " & ") + " \\\\\n\\midrule\n"
            for row in table.rows {
                text += Self.latexEscape(row.label) + " & " + row.cells.map { cell in
                    Self.text(cell.value, plusMinus: " $\\pm$ ") + (cell.published.map { String(format: " (%.2f)", $0) } ?? "")
                }.joined(separator: " & ") + " \\\\\n"
            }
            text += "\\bottomrule\n\\end{tabular}\n\\end{table}\n"
        }
        return text
    }

    static func text(_ value: MeanDeviation?, plusMinus: String) -> String {
        guard let value else { return "–" }
        return String(format: "%.2f", value.mean) + (value.count > 1 ? plusMinus + String(format: "%.2f", value.deviation) : "")
    }

    static func latexEscape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\textbackslash{}"
            case "&", "%", "$", "#", "_", "{", "}": out += "\\\(character)"
            case "~": out += "\\textasciitilde{}"
            case "^": out += "\\textasciicircum{}"
            default: out.append(character)
            }
        }
        return out
    }
}
