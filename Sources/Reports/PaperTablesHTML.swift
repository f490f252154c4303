// The paper's layouts on the HTML page: Tables 3-5 as tables, Figure 3 as small charts (one per
// dataset and one for the average), accuracy against shots, one line per method, error bars
// over seeds.

import Foundation

extension PaperTables {
    var html: String {
        guard !tables.isEmpty || !figure3.isEmpty else { return "" }
        var html = "<h2>In the paper's layouts</h2>\n<p>Over \(datasets.count) dataset\(datasets.count == 1 ? "" : "s") "
            + "(\(escape(datasets.joined(separator: ", ")))): each cell is the mean &plusmn; standard deviation over seeds of the runs' "
            + "average accuracy after their last stage, averaged over the datasets; the paper's cells (11 datasets) in grey italics.</p>\n"
        for table in tables {
            html += "<h3>Table \(table.number): \(escape(table.title))</h3>\n<table><tr><th>method</th>"
                + table.columns.map { "<th>\(escape($0))</th><th class=\"published\">published</th>" }.joined() + "</tr>\n"
            for row in table.rows {
                html += "<tr><td>\(escape(row.label))</td>" + row.cells.map { cell in
                    "<td title=\"\(cell.datasets) dataset(s), \(cell.value?.count ?? 0) seed(s)\">\(Self.text(cell.value, plusMinus: " &plusmn; "))</td>"
                        + "<td class=\"published\">\(percent(cell.published))</td>"
                }.joined() + "</tr>\n"
            }
            html += "</table>\n"
        }
        if !figure3.isEmpty {
            html += "<h3>Figure 3: accuracy against shots per class</h3>\n<div class=\"charts\">\n" + figure3.map(Self.panel).joined() + "</div>\n"
        }
        return html
    }

    static func panel(_ panel: Panel) -> String {
        let (left, top, width, height) = (40, 24, 220, 140)
        let values = panel.series.flatMap { $0.points.flatMap { [$0.value.mean - $0.value.deviation, $0.value.mean + $0.value.deviation] } }
        let low = max(0, ((values.min() ?? 0) / 10).rounded(.down) * 10), high = min(100, ((values.max() ?? 100) / 10).rounded(.up) * 10)
        let span = max(high - low, 10)
        func x(_ shots: Int) -> Int {
            panel.shots.count < 2 ? left + width / 2 : left + panel.shots.firstIndex(of: shots)! * width / (panel.shots.count - 1)
        }
        func y(_ accuracy: Double) -> Int { top + Int((1 - (accuracy - low) / span) * Double(height)) }
        let palette = ["#4f81bd", "#c0504d", "#9bbb59", "#8064a2", "#f79646", "#4bacc6", "#7f7f7f", "#1f497d"]
        var svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 20)\" height=\"\(top + height + 36 + 14 * panel.series.count)\" role=\"img\">"
        svg += "<text x=\"\(left + width / 2)\" y=\"14\" font-size=\"12\" text-anchor=\"middle\" font-weight=\"bold\">\(escape(panel.title))</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + width)\" y2=\"\(top + height)\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + height)\" stroke=\"#444\"/>"
        for value in stride(from: low, through: low + span, by: span / 2) {
            svg += "<text x=\"\(left - 4)\" y=\"\(y(value) + 4)\" font-size=\"10\" text-anchor=\"end\">\(Int(value))</text>"
        }
        for shots in panel.shots { svg += "<text x=\"\(x(shots))\" y=\"\(top + height + 13)\" font-size=\"10\" text-anchor=\"middle\">\(shots)</text>" }
        for (k, series) in panel.series.enumerated() {
            let colour = series.reference ? "#888888" : palette[k % palette.count]
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(series.reference ? " stroke-dasharray=\"5,4\"" : "") points=\"\(series.points.map { "\(x($0.shots)),\(y($0.value.mean))" }.joined(separator: " "))\"/>"
            for point in series.points {
                let (mean, deviation) = (point.value.mean, point.value.deviation)
                svg += "<line x1=\"\(x(point.shots))\" y1=\"\(y(min(100, mean + deviation)))\" x2=\"\(x(point.shots))\" y2=\"\(y(max(0, mean - deviation)))\" stroke=\"\(colour)\"/>"
                svg += "<circle cx=\"\(x(point.shots))\" cy=\"\(y(mean))\" r=\"2.5\" fill=\"\(colour)\"><title>\(escape(series.label)), \(point.shots) shots: \(meanDeviation(point.value))</title></circle>"
            }
            svg += "<text x=\"\(left)\" y=\"\(top + height + 30 + 14 * k)\" font-size=\"11\" fill=\"\(colour)\">\(escape(series.label))</text>"
        }
        return svg + "</svg></figure>\n"
    }

    /// The tables as the plain text `compare` prints.
    var text: String {
        tables.map { table in
            "Table \(table.number) layout: \(table.title), over \(datasets.count) dataset(s); mean +- sd over seeds (published)\n"
                + TextTable(["method"] + table.columns, table.rows.map { row in
                    [row.label] + row.cells.map { Self.text($0.value, plusMinus: " +- ") + ($0.published.map { String(format: " (%.2f)", $0) } ?? "") }
                }).text + "\n"
        }.joined()
    }
}
