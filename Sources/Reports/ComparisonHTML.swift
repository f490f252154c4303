import Evaluation
import Foundation
import Methods
import Store
import Training

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
        Cells in <i>grey italics</i> are the LAMM paper's published figures (Tables 1-3), shown for reference only.</p>

        """
        for dataset in datasets {
            page += "<h2>Dataset \(escape(dataset.dataset))</h2>\n" + table(dataset) + metricsTable(dataset)
            page += "<div class=\"charts\">\n" + dataset.methods.map { heatMap($0, stages: dataset.stages) }.joined() + "</div>\n"
            page += stepCurves(dataset) + forgottenClasses(dataset) + fewShot(dataset) + crossDataset(dataset) + baseToNew(dataset) + lossCurves(dataset)
        }
        page += paper.html
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

    /// Many-step scenarios: each method's accuracy on the classes seen so far against the step,
    /// with Avg and Last.
    func stepCurves(_ dataset: DatasetComparison) -> String {
        let methods = dataset.methods.filter { $0.metrics.steps.count > 2 }
        guard !methods.isEmpty else { return "" }
        var html = "<h3>Accuracy on the classes seen so far, by step</h3>\n<table><tr><th>method</th><th>Avg</th><th>Last</th></tr>\n"
        for m in methods {
            html += "<tr><td>\(escape(m.method.rawValue))</td><td>\(percent(m.metrics.averageIncrementalAccuracy))</td><td>\(percent(m.metrics.lastAccuracy))</td></tr>\n"
        }
        html += "</table>\n"
        let steps = dataset.stages.count
        let (left, top, width, height) = (50, 20, 420, 200)
        func x(_ step: Int) -> Int { steps < 2 ? left : left + step * width / (steps - 1) }
        func y(_ accuracy: Double) -> Int { top + Int((1 - accuracy / 100) * Double(height)) }
        let palette = ["#4f81bd", "#c0504d", "#9bbb59", "#8064a2", "#f79646", "#4bacc6"]
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 140)\" height=\"\(top + height + 40)\" role=\"img\">"
        svg += "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + width)\" y2=\"\(top + height)\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + height)\" stroke=\"#444\"/>"
        for value in stride(from: 0, through: 100, by: 25) {
            svg += "<text x=\"\(left - 6)\" y=\"\(y(Double(value)) + 4)\" font-size=\"10\" text-anchor=\"end\">\(value)</text>"
        }
        for step in 0..<steps { svg += "<text x=\"\(x(step))\" y=\"\(top + height + 14)\" font-size=\"10\" text-anchor=\"middle\">\(step + 1)</text>" }
        svg += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 30)\" font-size=\"11\" text-anchor=\"middle\">step</text>"
        for (k, m) in methods.enumerated() {
            let colour = palette[k % palette.count]
            let points = m.metrics.steps.compactMap { step in step.seen.map { (step.step, $0) } }
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.map { "\(x($0.0)),\(y($0.1))" }.joined(separator: " "))\"/>"
            for (step, value) in points {
                svg += "<circle cx=\"\(x(step))\" cy=\"\(y(value))\" r=\"3\" fill=\"\(colour)\"><title>\(escape(m.method.rawValue)), step \(step + 1): \(percent(value))</title></circle>"
            }
            svg += "<text x=\"\(left + width + 12)\" y=\"\(top + 14 + 16 * k)\" font-size=\"11\" fill=\"\(colour)\">\(escape(m.method.rawValue))</text>"
        }
        return html + svg + "</svg><figcaption>Accuracy on every class seen so far after each step</figcaption></figure>\n"
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

    /// Per method and earlier stage, the classes whose accuracy fell most between the snapshot
    /// that trained the stage and the method's last.
    func forgottenClasses(_ dataset: DatasetComparison) -> String {
        let methods = dataset.methods.filter { !$0.classChanges.isEmpty }
        guard !methods.isEmpty else { return "" }
        var html = "<h3>Classes that forgot most</h3>\n<table><tr><th>method</th><th>stage</th><th>class</th><th>rows</th>"
            + "<th>when trained</th><th>after last stage</th><th>change</th></tr>\n"
        for method in methods {
            for stage in method.classChanges {
                for change in stage.classes.prefix(5) {
                    html += "<tr><td>\(escape(method.method.rawValue))</td><td>\(escape(stage.stage))</td><td>\(escape(change.className))</td>"
                        + "<td>\(change.total)</td><td>\(percent(change.before))</td><td>\(percent(change.after))</td><td>\(signed(change.change))</td></tr>\n"
                }
            }
        }
        return html + "</table>\n"
    }

    /// The sweep's average accuracy against shots, one line per method, bars of one standard
    /// deviation, and the table beside it.
    func fewShot(_ dataset: DatasetComparison) -> String {
        guard !dataset.sweeps.isEmpty else { return "" }
        var html = "<h3>Few-shot sweep (mean &plusmn; standard deviation over seeds)</h3>\n<table><tr><th>method</th><th>shots</th><th>seeds</th>"
            + "<th>average accuracy</th><th class=\"published\">published (Table 3, 11 datasets)</th></tr>\n"
        for row in dataset.sweeps {
            html += "<tr><td>\(escape(row.label))</td><td>\(row.shots)</td><td>\(row.seeds.map(String.init).joined(separator: ", "))</td>"
                + "<td>\(meanDeviation(row.averageAccuracy))</td><td class=\"published\">\(percent(row.published))</td></tr>\n"
        }
        html += "</table>\n"
        let shots = Array(Set(dataset.sweeps.map(\.shots))).sorted()
        let (left, top, plotWidth, plotHeight) = (50, 20, 360, 200)
        func x(_ shot: Int) -> Int { shots.count < 2 ? left + plotWidth / 2 : left + shots.firstIndex(of: shot)! * plotWidth / (shots.count - 1) }
        func y(_ accuracy: Double) -> Int { top + Int((1 - accuracy / 100) * Double(plotHeight)) }
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + plotWidth + 140)\" height=\"\(top + plotHeight + 40)\" role=\"img\">"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(left + plotWidth)\" y2=\"\(top + plotHeight)\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#444\"/>"
        for value in stride(from: 0, through: 100, by: 25) {
            svg += "<text x=\"\(left - 6)\" y=\"\(y(Double(value)) + 4)\" font-size=\"10\" text-anchor=\"end\">\(value)</text>"
        }
        for shot in shots { svg += "<text x=\"\(x(shot))\" y=\"\(top + plotHeight + 14)\" font-size=\"10\" text-anchor=\"middle\">\(shot)</text>" }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(top + plotHeight + 30)\" font-size=\"11\" text-anchor=\"middle\">shots per class</text>"
        let palette = ["#4f81bd", "#c0504d", "#9bbb59", "#8064a2", "#f79646", "#4bacc6"]
        var labels: [String] = []
        for row in dataset.sweeps where !labels.contains(row.label) { labels.append(row.label) }
        for (m, label) in labels.enumerated() {
            let colour = palette[m % palette.count]
            let points = dataset.sweeps.filter { $0.label == label }.compactMap { row in row.averageAccuracy.map { (row.shots, $0) } }
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.map { "\(x($0.0)),\(y($0.1.mean))" }.joined(separator: " "))\"/>"
            for (shot, value) in points {
                svg += "<line x1=\"\(x(shot))\" y1=\"\(y(min(100, value.mean + value.deviation)))\" x2=\"\(x(shot))\" y2=\"\(y(max(0, value.mean - value.deviation)))\" stroke=\"\(colour)\"/>"
                svg += "<circle cx=\"\(x(shot))\" cy=\"\(y(value.mean))\" r=\"3\" fill=\"\(colour)\"><title>\(escape(label)), \(shot) shots: \(meanDeviation(value))</title></circle>"
            }
            svg += "<text x=\"\(left + plotWidth + 12)\" y=\"\(top + 14 + 16 * m)\" font-size=\"11\" fill=\"\(colour)\">\(escape(label))</text>"
        }
        return html + svg + "</svg><figcaption>Average accuracy after the last stage against shots per class</figcaption></figure>\n"
    }

    /// The dataset's snapshots evaluated on other datasets, beside the paper's Table 1.
    func crossDataset(_ dataset: DatasetComparison) -> String {
        guard !dataset.crossDataset.isEmpty else { return "" }
        var html = "<h3>On other datasets (classes matched by name)</h3>\n<table><tr><th>snapshot</th><th>method</th><th>on</th><th>stage</th>"
            + "<th>accuracy</th><th>zero-shot CLIP</th><th>matched classes</th><th>unmatched</th><th class=\"published\">published (Table 1)</th></tr>\n"
        for row in dataset.crossDataset {
            html += "<tr><td>\(row.snapshot)</td><td>\(escape(row.method.rawValue))</td><td>\(escape(row.on))</td><td>\(escape(row.stage))</td>"
                + "<td>\(percent(row.accuracy))</td><td>\(percent(row.baseline))</td><td>\(row.matchedClasses)</td>"
                + "<td>\(escape(row.unmatchedClasses.joined(separator: ", ")))</td><td class=\"published\">\(percent(row.published))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// Base-to-new generalisation, as CoCoOp's and MaPLe's tables: base, new and HM per snapshot.
    func baseToNew(_ dataset: DatasetComparison) -> String {
        guard !dataset.baseToNew.isEmpty else { return "" }
        var html = "<h3>Base-to-new generalisation</h3>\n<table><tr><th>snapshot</th><th>method</th><th>trained to</th><th>new classes</th>"
            + "<th>base</th><th>new</th><th>HM</th><th>CLIP base</th><th>CLIP new</th><th>CLIP HM</th></tr>\n"
        for row in dataset.baseToNew {
            html += "<tr><td>\(row.snapshot)</td><td>\(escape(row.method.rawValue + (row.run.map { " " + $0.description } ?? "")))</td>"
                + "<td>\(escape(row.trainedStage))</td><td>\(escape(row.on + ":" + row.stage))</td>"
                + "<td>\(percent(row.base))</td><td>\(percent(row.new))</td><td><b>\(percent(row.harmonicMean))</b></td>"
                + "<td>\(percent(row.baselineBase))</td><td>\(percent(row.baselineNew))</td><td>\(percent(row.baselineHarmonicMean))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// Each trainer snapshot's loss curve: the total and every term, per epoch.
    func lossCurves(_ dataset: DatasetComparison) -> String {
        let curves = dataset.methods.flatMap { method in method.lossCurves.filter { !$0.epochs.isEmpty }.map { (method.method, $0) } }
        guard !curves.isEmpty else { return "" }
        var html = "<h3>Loss curves</h3>\n<div class=\"charts\">\n"
        let terms: [(String, String, KeyPath<LossTerms, Float>)] = [("total", "#222", \.total), ("CE", "#4f81bd", \.ce), ("WC", "#9bbb59", \.wc),
                                                                  ("COS", "#8064a2", \.cos), ("KD", "#f79646", \.kd)]
        for (method, curve) in curves {
            let (left, top, w, h) = (40, 10, 220, 110)
            let largest = max(curve.epochs.map { Double($0.terms.total) }.max() ?? 1, 1e-6)
            func x(_ e: Int) -> Int { curve.epochs.count < 2 ? left : left + e * w / (curve.epochs.count - 1) }
            func y(_ v: Float) -> Int { top + Int((1 - min(max(Double(v) / largest, 0), 1)) * Double(h)) }
            var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + w + 60)\" height=\"\(top + h + 24)\" role=\"img\">"
            svg += "<line x1=\"\(left)\" y1=\"\(top + h)\" x2=\"\(left + w)\" y2=\"\(top + h)\" stroke=\"#444\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(top + 8)\" font-size=\"9\" text-anchor=\"end\">\(String(format: "%.2f", largest))</text>"
            svg += "<text x=\"\(left - 4)\" y=\"\(top + h)\" font-size=\"9\" text-anchor=\"end\">0</text>"
            for (k, (name, colour, path)) in terms.enumerated() where curve.epochs.contains(where: { $0.terms[keyPath: path] != 0 }) {
                let points = curve.epochs.enumerated().map { "\(x($0.offset)),\(y($0.element.terms[keyPath: path]))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(points)\"><title>\(name)</title></polyline>"
                svg += "<text x=\"\(left + w + 6)\" y=\"\(top + 10 + 12 * k)\" font-size=\"9\" fill=\"\(colour)\">\(name)</text>"
            }
            svg += "<text x=\"\(left + w / 2)\" y=\"\(top + h + 16)\" font-size=\"9\" text-anchor=\"middle\">epoch 1 ... \(curve.epochs.count)</text>"
            html += svg + "</svg><figcaption>\(escape(method.rawValue)), \(escape(curve.stage)) (snapshot \(curve.snapshot))</figcaption></figure>\n"
        }
        return html + "</div>\n"
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
