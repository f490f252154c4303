import Foundation
import Testing

/// compare through the built binary.
extension StoreCommandTests {
    @Test func compareReportsEachMethodAndWritesAPage() throws {
        try initStore()
        let (csv1, rows1) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        let f1 = try features("set1.npy", rows: rows1)
        let (csv2, rows2) = try stageCSV("set2.csv", classes: ["fish", "frog"])
        let f2 = try features("set2.npy", rows: rows2)
        for method in ["lamm", "coop"] {
            #expect(try run(["add-classes", csv1, "--features", f1, "--dataset", "OxfordPets", "--method", method, "--epochs", "3", "--quiet"]).status == 0)
            #expect(try run(["add-classes", csv2, "--features", f2, "--method", method, "--epochs", "3", "--quiet"]).status == 0)
        }
        let html = scratch.path("report.html")
        let result = try run(["compare", "--json", "--html", html])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try CLI.json(result) as? [String: Any])
        let dataset = try #require((json["datasets"] as? [[String: Any]])?.first)
        #expect(dataset["stages"] as? [String] == ["Set1", "Set2"])
        // The paper's cells for OxfordPets are shown, labelled as published.
        #expect((dataset["zero_shot_published"] as? [Double]) == [91.17, 97.26])
        let methods = try #require(dataset["methods"] as? [[String: Any]])
        #expect(methods.map { $0["method"] as? String } == ["lamm", "coop"])
        let lamm = try #require(methods.first)
        let lammStages = try #require(lamm["stages"] as? [[String: Any]])
        #expect(lammStages[0]["published"] as? Double == 95.17 && lammStages[0]["degradation"] as? Double == 0)
        #expect((lamm["metrics"] as? [String: Any])?["forgetting"] as? Double == 0)
        // The same numbers as eval of the method's last snapshot.
        let eval = try #require(try CLI.json(try run(["eval", "--snapshot", "\((lamm["snapshots"] as! [Int]).last!)", "--json"])) as? [String: Any])
        let evalStages = try #require(eval["stages"] as? [[String: Any]])
        for k in 0..<2 {
            #expect(evalStages[k]["accuracy"] as? Double == lammStages[k]["after_last_stage"] as? Double)
            #expect(evalStages[k]["accuracy_when_trained"] as? Double == lammStages[k]["after_own_training"] as? Double)
        }
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("accuracy matrix") && page.contains("published"))
        #expect(!page.contains("http://") || page.contains("http://www.w3.org/2000/svg"), "the page loads nothing from the network")
        let plain = try run(["compare"])
        #expect(plain.stdout.contains("zero-shot CLIP") && plain.stdout.contains("forgetting"))
    }

    @Test func compareErrors() throws {
        try initStore()
        try expectFailure(["compare"], mentions: ["no datasets"])
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        #expect(try run(["add-classes", csv, "--features", try features("set1.npy", rows: rows), "--epochs", "2", "--quiet"]).status == 0)
        // One stage: a comparison with nothing forgotten yet.
        let one = try #require(try CLI.json(try run(["compare", "--json"])) as? [String: Any])
        let methods = try #require(((one["datasets"] as? [[String: Any]])?.first?["methods"]) as? [[String: Any]])
        #expect(((methods[0]["metrics"] as? [String: Any])?["forgetting"]) is NSNull)
        try expectFailure(["compare", "--dataset", "zoo"], mentions: ["no dataset named 'zoo'"])
        try expectFailure(["compare", "--html", "/nonexistent-folder/report.html"], mentions: ["--html", "/nonexistent-folder"])
    }
}
