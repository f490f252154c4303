import Foundation
import Testing

/// sweep, compare's aggregation of its runs and --csv, and eval --on, through the built binary.
extension StoreCommandTests {
    /// A dataset `pets` of two stages (dog, cat | fish, frog, 4 rows a class), registered by a LAMM run.
    func registeredPets() throws {
        try initStore()
        let (csv1, rows1) = try stageCSV("set1.csv", classes: ["dog", "cat"], perClass: 4)
        let (csv2, rows2) = try stageCSV("set2.csv", classes: ["fish", "frog"], perClass: 4)
        #expect(try run(["add-classes", csv1, "--features", try features("set1.npy", rows: rows1), "--dataset", "pets", "--epochs", "2", "--quiet"]).status == 0)
        #expect(try run(["add-classes", csv2, "--features", try features("set2.npy", rows: rows2), "--epochs", "2", "--quiet"]).status == 0)
    }

    func snapshotCount() throws -> Int {
        try #require(try CLI.json(try run(["snapshots", "--json"])) as? [[String: Any]]).count
    }

    @Test func sweepTrainsOneLineagePerRunAndSkipsCompleteRuns() throws {
        try registeredPets()
        let grid = ["--shots", "1,2", "--seeds", "1,2", "--methods", "lamm,coop", "--epochs", "2", "--quiet"]
        let first = try run(["sweep", "--dataset", "pets"] + grid + ["--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let result = try #require(try CLI.json(first) as? [String: Any])
        let runs = try #require(result["runs"] as? [[String: Any]])
        #expect(runs.count == 8 && runs.allSatisfy { $0["status"] as? String == "trained" && ($0["snapshots"] as? [Int])?.count == 2 })
        #expect(try snapshotCount() == 2 + 16)
        // Each run is its own lineage, tagged with its run: Set2's parent is the same run's Set1.
        let snapshots = try #require(try CLI.json(try run(["snapshots", "--json"])) as? [[String: Any]])
        for r in runs {
            let ids = r["snapshots"] as! [Int]
            let set2 = try #require(snapshots.first { $0["id"] as? Int == ids[1] })
            #expect(set2["parent"] as? Int == ids[0])
            let tag = try #require(set2["run"] as? [String: Any])
            #expect(tag["shots"] as? Int == r["shots"] as? Int && tag["seed"] as? Int == r["seed"] as? Int)
        }
        // The add-classes lineage is untouched: its next stage still continues snapshot 1 -> 2.
        #expect(snapshots.first { $0["id"] as? Int == 2 }?["run"] is NSNull)

        // Again: every run is complete, nothing is trained or written.
        let again = try run(["sweep"] + grid + ["--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let skipped = try #require((try CLI.json(again) as? [String: Any])?["runs"] as? [[String: Any]])
        #expect(skipped.allSatisfy { $0["status"] as? String == "skipped" } && skipped.map { $0["snapshots"] as? [Int] } == runs.map { $0["snapshots"] as? [Int] })
        #expect(try snapshotCount() == 18)

        // compare aggregates the runs that differ only in seed; --csv has one line per lineage and stage.
        let csv = scratch.path("runs.csv")
        let compare = try #require(try CLI.json(try run(["compare", "--json", "--csv", csv])) as? [String: Any])
        let pets = try #require((compare["datasets"] as? [[String: Any]])?.first)
        #expect((pets["methods"] as? [[String: Any]])?.map { $0["method"] as? String } == ["lamm"])
        #expect((pets["runs"] as? [[String: Any]])?.count == 8)
        let sweeps = try #require(pets["sweeps"] as? [[String: Any]])
        #expect(sweeps.map { "\($0["method"]!) \($0["shots"]!)" } == ["lamm 1", "lamm 2", "coop 1", "coop 2"])
        let runRows = try #require(pets["runs"] as? [[String: Any]])
        for summary in sweeps {
            #expect(summary["seeds"] as? [Int] == [1, 2])
            // The mean and standard deviation are those of the two runs' cells.
            let members = runRows.filter { ($0["method"] as? String) == (summary["method"] as? String)
                && (($0["run"] as? [String: Any])?["shots"] as? Int) == (summary["shots"] as? Int) }
            let cells = members.compactMap { (($0["stages"] as? [[String: Any]])?[0]["after_last_stage"]) as? Double }
            let stage = try #require((summary["stages"] as? [[String: Any]])?.first?["after_last_stage"] as? [String: Any])
            let mean = cells.reduce(0, +) / 2, deviation = abs(cells[0] - cells[1]) / 2.squareRoot()
            #expect(cells.count == 2 && abs((stage["mean"] as! Double) - mean) < 1e-9 && abs((stage["deviation"] as! Double) - deviation) < 1e-9)
        }
        #expect(sweeps.first?["published"] as? Double == 68.99, "LAMM at 1 shot in the paper's Table 3")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "dataset,method,shots,seed,stage,after_own_training,after_last_stage,degradation,zero_shot,published")
        #expect(lines.count == 1 + 2 + 8 * 2)
        #expect(lines.contains { $0.hasPrefix("pets,coop,2,1,Set2,") })
        let text = try run(["compare"])
        #expect(text.stdout.contains("few-shot sweep of 'pets'") && text.stdout.contains(" +- "), "\(text.stdout)")
        #expect(try run(["verify"]).status == 0)
    }

    @Test func sweepRefusesABadGridAndLeavesTheStoreAsItWas() throws {
        try registeredPets()
        for (arguments, mention) in [(["--shots", "0,2"], "--shots"), (["--shots", "two"], "'two'"), (["--seeds", "-1"], "--seeds"),
                                     (["--methods", "lamm,clip"], "'clip'"), (["--methods", "zeroshot"], "'zeroshot'"),
                                     (["--shots", "2,2"], "each value once"), (["--epochs", "0"], "--epochs")] {
            try expectFailure(["sweep", "--epochs", "1"] + arguments, mentions: [mention])
        }
        try expectFailure(["sweep", "--dataset", "nosuch", "--epochs", "1"], mentions: ["nosuch"])
        // MaPLe trains inside the image tower: stages registered from features are refused before any run.
        try expectFailure(["sweep", "--methods", "lamm,maple", "--shots", "1", "--seeds", "1", "--prompt-depth", "2", "--epochs", "1"],
                          mentions: ["--method maple", "needs the images themselves"])
    }

    @Test func evalOnAnotherDatasetMatchesClassesByName() throws {
        try registeredPets()
        // A shifted copy of some classes (dog, cat), with one the snapshot lacks (owl).
        let (csv, rows) = try stageCSV("v2.csv", classes: ["cat", "owl", "dog"], perClass: 3)
        #expect(try run(["add-classes", csv, "--features", try features("v2.npy", rows: rows), "--dataset", "pets-v2",
                         "--method", "zeroshot", "--quiet"]).status == 0)
        let result = try run(["eval", "--snapshot", "2", "--on", "pets-v2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try CLI.json(result) as? [String: Any])
        #expect(json["on"] as? String == "pets-v2" && json["stored"] as? Bool == true)
        let stage = try #require((json["stages"] as? [[String: Any]])?.first)
        #expect(stage["matched_classes"] as? Int == 2 && stage["unmatched_classes"] as? [String] == ["owl"])
        #expect(stage["total"] as? Int == 2, "one test row each of cat and dog; owl's left out")
        #expect(stage["accuracy"] as? Double != nil && stage["baseline"] as? Double != nil)
        let plain = try run(["eval", "--snapshot", "2", "--on", "pets-v2:Set1"])
        #expect(plain.status == 0 && plain.stdout.contains("1: owl"), "\(plain.stdout)")

        // compare shows it beside the snapshot's own dataset.
        let compare = try #require(try CLI.json(try run(["compare", "--dataset", "pets", "--json"])) as? [String: Any])
        let cross = try #require(((compare["datasets"] as? [[String: Any]])?.first?["cross_dataset"] as? [[String: Any]]))
        #expect(cross.count == 1 && cross[0]["on"] as? String == "pets-v2" && cross[0]["accuracy"] as? Double == stage["accuracy"] as? Double)

        // Errors: unknown dataset or stage, the snapshot's own dataset, a dataset with no matching class.
        try expectFailure(["eval", "--snapshot", "2", "--on", "nosuch"], mentions: ["nosuch", "pets-v2"])
        try expectFailure(["eval", "--snapshot", "2", "--on", "pets-v2:Set9"], mentions: ["Set9"])
        try expectFailure(["eval", "--snapshot", "2", "--on", "pets"], mentions: ["--on pets", "belongs to that dataset"])
        try expectFailure(["eval", "--snapshot", "9", "--on", "pets-v2"], mentions: ["no snapshot 9"])
        let (birds, birdRows) = try stageCSV("birds.csv", classes: ["hen", "owl"])
        #expect(try run(["add-classes", birds, "--features", try features("birds.npy", rows: birdRows), "--dataset", "birds",
                         "--method", "zeroshot", "--quiet"]).status == 0)
        try expectFailure(["eval", "--snapshot", "2", "--on", "birds"], mentions: ["--on", "'hen'", "'owl'", "matches classes by name"])
        #expect(try run(["verify"]).status == 0)
    }
}

extension StoreCommandTests {
    /// `tag` and `untag` through the binary: a name works wherever --snapshot takes an id.
    @Test func aTagNamesASnapshotForEveryCommand() throws {
        try registeredPets()
        let tagged = try run(["tag", "--snapshot", "2", "best-16shot", "--json"])
        #expect(tagged.status == 0, "\(tagged.stderr)")
        #expect((try CLI.json(tagged) as? [String: Any])?["snapshot"] as? Int == 2)
        #expect(try run(["tag", "--snapshot", "best-16shot", "also-best"]).stdout.contains("'also-best' names snapshot 2"))
        let shown = try #require(try CLI.json(try run(["show", "--snapshot", "best-16shot", "--json"])) as? [String: Any])
        #expect(((shown["summary"] as? [String: Any])?["id"] as? Int) == 2)
        #expect(try run(["show", "--snapshot", "best-16shot"]).stdout.contains("tags: also-best, best-16shot"))
        let evaluated = try #require(try CLI.json(try run(["eval", "--snapshot", "best-16shot", "--json"])) as? [String: Any])
        #expect(evaluated["snapshot"] as? Int == 2)
        #expect(try run(["diff", "1", "best-16shot"]).stdout.contains("snapshots 1 -> 2"))
        #expect(try run(["export", "--snapshot", "also-best", "--out", scratch.path("rows.npy")]).stdout.contains("of snapshot 2"))
        #expect(try run(["snapshots"]).stdout.contains("also-best, best-16shot"))
        // Moving a name says from where; a number is refused as a name; an unknown name is named.
        #expect(try run(["tag", "--snapshot", "1", "best-16shot"]).stdout.contains("(moved from snapshot 2)"))
        let before = try contents()
        let number = try run(["tag", "--snapshot", "1", "7"])
        #expect(number.status != 0 && number.stderr.contains("is a number"), "\(number.stderr)")
        let unknown = try run(["eval", "--snapshot", "best-8shot"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no snapshot is tagged 'best-8shot'") && unknown.stderr.contains("'also-best'"), "\(unknown.stderr)")
        #expect(try contents() == before)
        #expect(try run(["untag", "best-16shot"]).stdout.contains("no longer names snapshot 1"))
        #expect(try run(["untag", "best-16shot"]).status != 0)
        #expect(try run(["verify"]).status == 0)
    }
}
