import Foundation
import Testing

/// `compare` on the runs of a sweep over two datasets with the paper's ablations: Tables 3-5 and
/// Figure 3 in the paper's layouts (--json, --markdown, --latex, --html), each cell recomputed
/// here from the runs compare reports.
extension StoreCommandTests {
    @Test func compareShowsASweepInThePapersLayouts() throws {
        try initStore()
        for (dataset, stages) in [("pets", [["dog", "cat"], ["fish", "frog"]]), ("farm", [["hen", "cow"], ["pig", "goat"]])] {
            for (k, classes) in stages.enumerated() {
                let (csv, rows) = try stageCSV("\(dataset)\(k).csv", classes: classes, perClass: 4)
                #expect(try run(["add-classes", csv, "--features", try features("\(dataset)\(k).npy", rows: rows), "--dataset", dataset,
                                 "--epochs", "2", "--quiet"]).status == 0)
            }
        }
        let sweep = try run(["sweep", "--datasets", "pets,farm", "--methods", "lamm,coop", "--variants", "full,no-hl,no-kd,random-init",
                             "--shots", "1,2", "--seeds", "1,2", "--epochs", "2", "--quiet", "--json"])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let (markdown, latex, html) = (scratch.path("tables.md"), scratch.path("tables.tex"), scratch.path("report.html"))
        let compared = try run(["compare", "--json", "--markdown", markdown, "--latex", latex, "--html", html])
        #expect(compared.status == 0, "\(compared.stderr)")
        let comparison = try #require(try CLI.json(compared) as? [String: Any])
        let paper = try #require(comparison["paper"] as? [String: Any])
        #expect(paper["datasets"] as? [String] == ["farm", "pets"] || paper["datasets"] as? [String] == ["pets", "farm"])

        // Each run's average accuracy, as compare reports it: (method, variant, shots) -> seed -> dataset -> value.
        var runs: [String: [Int: [String: Double]]] = [:]
        for dataset in try #require(comparison["datasets"] as? [[String: Any]]) {
            for r in try #require(dataset["runs"] as? [[String: Any]]) {
                let tag = try #require(r["run"] as? [String: Any])
                let key = "\(r["method"]!) \(tag["variant"] as? String ?? "full") \(tag["shots"]!)"
                let accuracy = try #require((r["metrics"] as? [String: Any])?["average_accuracy"] as? Double)
                runs[key, default: [:]][tag["seed"] as! Int, default: [:]][dataset["dataset"] as! String] = accuracy
            }
        }
        #expect(runs.count == 2 * 4 + 2, "lamm in 4 variants and coop in full, at 2 shot counts")
        func expected(_ key: String) -> (mean: Double, deviation: Double) {
            let perSeed = runs[key]!.keys.sorted().map { seed in runs[key]![seed]!.values.reduce(0, +) / Double(runs[key]![seed]!.count) }
            let mean = perSeed.reduce(0, +) / Double(perSeed.count)
            return (mean, (perSeed.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(perSeed.count - 1)).squareRoot())
        }
        func rows(_ table: String) throws -> [[String: Any]] {
            try #require((paper[table] as? [String: Any])?["rows"] as? [[String: Any]])
        }
        func check(_ row: [String: Any], column: Int, key: String, published: Double?) {
            let cell = (row["cells"] as! [[String: Any]])[column]
            let value = cell["value"] as! [String: Any]
            let (mean, deviation) = expected(key)
            #expect(abs((value["mean"] as! Double) - mean) < 1e-9 && abs((value["deviation"] as! Double) - deviation) < 1e-9, "\(key)")
            #expect(cell["datasets"] as? Int == 2 && value["count"] as? Int == 2)
            #expect(cell["published"] as? Double == published, "\(key)")
        }

        let table3 = try rows("table3")
        #expect(table3.map { $0["label"] as? String } == ["Zero-shot CLIP", "LAMM (w/o HL)", "LAMM", "CoOp"])
        #expect(((paper["table3"] as? [String: Any])?["columns"] as? [String]) == ["1-shot", "2-shot"])
        check(table3[1], column: 0, key: "lamm no-hl 1", published: 61.39)
        check(table3[2], column: 1, key: "lamm full 2", published: 73.09)
        check(table3[3], column: 0, key: "coop full 1", published: 67.97)
        #expect(((table3[0]["cells"] as? [[String: Any]])?[0]["published"] as? Double) == 65.27)

        // Table 4 at the most shots swept (2; the paper's cells are at 16, so none is shown).
        let table4 = try rows("table4")
        #expect(table4.map { $0["label"] as? String } == ["CE only", "all four", "without KD"])
        check(table4[2], column: 0, key: "lamm no-kd 2", published: nil)
        let table5 = try rows("table5")
        #expect(table5.map { $0["label"] as? String } == ["random initialisation", "class-name initialisation"])
        check(table5[0], column: 0, key: "lamm random-init 1", published: 62.71)
        check(table5[1], column: 1, key: "lamm full 2", published: 73.09)

        // Figure 3: a panel per dataset and the average, a line per method and variant.
        let panels = try #require(paper["figure3"] as? [[String: Any]])
        #expect(panels.count == 3 && (panels.last?["title"] as? String)?.hasPrefix("Average over 2 datasets") == true)
        #expect((panels.last?["series"] as? [[String: Any]])?.map { $0["label"] as? String }
                == ["Zero-shot CLIP", "lamm", "coop"], "one line per method (the ablations are the tables'), beside zero-shot CLIP")

        let md = try String(contentsOfFile: markdown, encoding: .utf8)
        #expect(md.contains("**Table 3.**") && md.contains("| LAMM (w/o HL) | ") && md.contains("(61.39)") && md.contains("**Table 5.**"), "\(md)")
        let tex = try String(contentsOfFile: latex, encoding: .utf8)
        #expect(tex.contains("\\begin{tabular}{lrr}") && tex.contains("$\\pm$") && tex.contains("CoOp &"), "\(tex)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("In the paper's layouts") && page.contains("Figure 3") && page.contains("Table 4"))
        let text = try run(["compare"])
        #expect(text.stdout.contains("Table 3 layout") && text.stdout.contains("lamm no-hl"), "\(text.stdout)")
    }
}
