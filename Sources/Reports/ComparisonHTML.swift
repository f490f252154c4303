import Evaluation
import Foundation
import Store

/// The comparison as one self-contained HTML page (no network): the tables, and two charts
/// drawn as inline SVG, the accuracy matrix of each method as a heat map and the degradation
/// of each method per dataset as bars.
extension Comparison {
    public func html(title: String = "lamm-store: comparison of methods") -> String {
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        td.published, th.published { color: #777; font-style: italic; }
        .charts { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
        figure { margin: 0; } figcaption { font-size: 0.9em; color: #555; }
        </style></head><body>
        <h1>\(escape(title))</h1>
        <p>Protocol <b>\(`protocol`.rawValue)</b>, split <b>\(split.rawValue)</b>. Accuracies in percent.
        Cells in <i>grey italics</i> are the LAMM paper's published figures (Table 2), shown for reference only.</p>

        """
        for dataset in datasets {
            page += "<h2>Dataset \(escape(dataset.dataset))</h2>\n" + table(dataset) + metricsTable(dataset)
            page += "<div class=\"charts\">\n" + dataset.methods.map { heatMap($0, stages: dataset.stages) }.joined() + "</div>\n"
        }
        page += "<h2>Degradation by method and dataset</h2>\n" + degradationBars() + "\n</body></html>\n"
        return page
    }

    func table(_ dataset: DatasetComparison) -> String {
        var rows = "<table><tr><th>method</th>"
        for stage in dataset.stages {
            rows += "<th>\(escape(stage)) after own training</th><th>\(escape(stage)) after last stage</th><th>degradation</th><th class=\"published\">published</th>"
        }
        rows += "</tr>\n<tr><td>zero-shot CLIP</td>"
        for k in dataset.stages.indices {
            rows += "<td>\(percent(dataset.zeroShot[k]))</td><td>\(percent(dataset.zeroShot[k]))</td><td>0.00</td>"
                + "<td class=\"published\">\(percent(dataset.zeroShotPublished[k]))</td>"
        }
        rows += "</tr>\n"
        for method in dataset.methods {
            rows += "<tr><td>\(escape(method.method.rawValue))</td>"
            for k in dataset.stages.indices {
                if k < method.stages.count {
                    let s = method.stages[k]
                    rows += "<td>\(percent(s.afterOwnTraining))</td><td>\(percent(s.afterLastStage))</td><td>\(signed(s.degradation))</td>"
                        + "<td class=\"published\">\(percent(s.published))</td>"
                } else {
                    rows += "<td>-</td><td>-</td><td>-</td><td class=\"published\">-</td>"
                }
            }
            rows += "</tr>\n"
        }
        return rows + "</table>\n"
    }

    func metricsTable(_ dataset: DatasetComparison) -> String {
        var rows = "<table><tr><th>method</th><th>average accuracy</th><th>forgetting</th><th>backward transfer</th><th>forward transfer</th></tr>\n"
        for method in dataset.methods {
            let m = method.metrics
            rows += "<tr><td>\(escape(method.method.rawValue))</td><td>\(percent(m.averageAccuracy))</td><td>\(signed(m.forgetting))</td>"
                + "<td>\(signed(m.backwardTransfer))</td><td>\(signed(m.forwardTransfer))</td></tr>\n"
        }
        return rows + "</table>\n"
    }

    /// R[t][k] as a grid: rows "after training stage t", columns "stage k"; darker is more accurate.
    func heatMap(_ method: MethodComparison, stages: [String]) -> String {
        let n = method.matrix.stageCount, cell = 56, left = 90, top = 40
        let width = left + n * cell + 10, height = top + n * cell + 10
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\">"
        svg += "<text x=\"\(left)\" y=\"14\" font-size=\"12\">evaluated on stage</text>"
        for k in 0..<n {
            svg += "<text x=\"\(left + k * cell + cell / 2)\" y=\"\(top - 8)\" font-size=\"11\" text-anchor=\"middle\">\(escape(stages[k]))</text>"
            svg += "<text x=\"\(left - 6)\" y=\"\(top + k * cell + cell / 2 + 4)\" font-size=\"11\" text-anchor=\"end\">after \(escape(stages[k]))</text>"
        }
        for t in 0..<n {
            for k in 0..<n {
                let value = method.matrix[t, k]
                let fill = value.map { color($0) } ?? "#eeeeee"
                svg += "<rect x=\"\(left + k * cell)\" y=\"\(top + t * cell)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill=\"\(fill)\"><title>R[\(t)][\(k)] = \(percent(value))</title></rect>"
                let ink = (value ?? 0) > 60 ? "#fff" : "#222"
                svg += "<text x=\"\(left + k * cell + cell / 2 - 1)\" y=\"\(top + t * cell + cell / 2 + 3)\" font-size=\"11\" text-anchor=\"middle\" fill=\"\(ink)\">\(percent(value))</text>"
            }
        }
        svg += "</svg><figcaption>\(escape(method.method.rawValue)): accuracy matrix R[t][k]</figcaption></figure>\n"
        return svg
    }

    /// Mean degradation of the earlier stages (= backward transfer) per method, grouped by dataset.
    func degradationBars() -> String {
        let bars = datasets.flatMap { d in d.methods.map { (d.dataset, $0.method.rawValue, $0.metrics.backwardTransfer ?? 0) } }
        let barWidth = 46, gap = 14, mid = 110, height = 2 * mid + 30, left = 50
        let largest = max(bars.map { abs($0.2) }.max() ?? 0, 1)
        let scale = Double(mid - 30) / largest
        let width = left + max(bars.count, 1) * (barWidth + gap) + 20
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\">"
        svg += "<line x1=\"\(left - 10)\" y1=\"\(mid)\" x2=\"\(width - 10)\" y2=\"\(mid)\" stroke=\"#444\"/>"
        svg += "<text x=\"4\" y=\"\(mid + 4)\" font-size=\"11\">0.00</text>"
        for (i, bar) in bars.enumerated() {
            let x = left + i * (barWidth + gap)
            let length = Int((abs(bar.2) * scale).rounded())
            let y = bar.2 >= 0 ? mid - length : mid
            svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(barWidth)\" height=\"\(max(length, 1))\" fill=\"\(bar.2 < 0 ? "#c0504d" : "#4f81bd")\"><title>\(escape(bar.0)) \(escape(bar.1)): \(signed(bar.2))</title></rect>"
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(bar.2 >= 0 ? y - 4 : y + length + 12)\" font-size=\"10\" text-anchor=\"middle\">\(signed(bar.2))</text>"
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(height - 22)\" font-size=\"10\" text-anchor=\"middle\">\(escape(bar.1))</text>"
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(height - 8)\" font-size=\"9\" text-anchor=\"middle\" fill=\"#666\">\(escape(bar.0))</text>"
        }
        svg += "</svg><figcaption>Mean degradation of the earlier stages after the last stage (0 = nothing forgotten)</figcaption></figure>"
        return svg
    }

    func color(_ accuracy: Double) -> String {
        // White at 0% to dark blue at 100%.
        let t = min(max(accuracy / 100, 0), 1)
        let r = Int(255 - t * (255 - 31)), g = Int(255 - t * (255 - 78)), b = Int(255 - t * (255 - 121))
        return String(format: "#%02x%02x%02x", r, g, b)
    }
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
