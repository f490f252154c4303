import Foundation
import Formats
import Testing

/// classify through the built binary, on two zero-shot stages (snapshot 2 holds dog, cat, hen, owl).
extension StoreCommandTests {
    func storeForClassify() throws {
        try initStore()
        for (name, classes) in [("set1", ["dog", "cat"]), ("set2", ["hen", "owl"])] {
            let (csv, rows) = try stageCSV("\(name).csv", classes: classes)
            let added = try run(["add-classes", csv, "--features", try features("\(name).npy", rows: rows), "--method", "zeroshot", "--quiet"])
            #expect(added.status == 0, "\(added.stderr)")
        }
    }

    /// CLIP's text features of the zero-shot prompts, as image features.
    func promptFeatures(_ classes: [String], name: String) throws -> String {
        let result = try CLI.run(["encode-text", "--model", Self.model, "--json"] + classes.map { "a photo of a \($0)." })
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try #require(try CLI.json(result) as? [[String: Any]])
        let values = try lines.flatMap { try #require($0["feature"] as? [Double]).map(Float.init) }
        let url = scratch.url.appendingPathComponent(name)
        try NPY.write(FloatMatrix(rows: classes.count, columns: Self.width, values: values), to: url)
        return url.path
    }

    @Test func classifyRanksASnapshotsClassesWithoutWritingTheStore() throws {
        try storeForClassify()
        let classes = ["dog", "cat", "hen", "owl"]
        let prompts = try promptFeatures(classes, name: "prompts.npy")
        // Nothing is written but cached text features.
        func uncached() throws -> [Substring]? { try contents()?.split(separator: "\n").filter { !$0.hasPrefix("text_feature:") } }
        let before = try uncached()
        let result = try run(["classify", "--snapshot", "2", "--features", prompts, "--top", "9", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try uncached() == before, "classify wrote to the store")
        let json = try #require(try CLI.json(result) as? [[String: Any]])
        #expect(json.map { $0["input"] as? String } == (0..<4).map { "\(prompts) row \($0)" })
        for (k, entry) in json.enumerated() {
            let top = try #require(entry["top"] as? [[String: Any]])
            // --top 9 is clamped to the 4 classes; each prompt's own class comes first.
            #expect(top.count == 4 && top[0]["class"] as? String == classes[k])
            #expect(top.allSatisfy { ["Set1", "Set2"].contains($0["stage"] as? String ?? "") })
            #expect(top.allSatisfy { $0["logit"] is Double })
            let probabilities = top.compactMap { $0["probability"] as? Double }
            #expect(probabilities.count == 4 && abs(probabilities.reduce(0, +) - 1) < 1e-5)
        }

        let set2 = try #require(try CLI.json(try run(["classify", "--snapshot", "2", "--features", prompts, "--stages", "Set2", "--json"])) as? [[String: Any]])
        for entry in set2 {
            let top = try #require(entry["top"] as? [[String: Any]])
            #expect(top.map { $0["class"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") } == ["hen", "owl"])
        }

        let text = try run(["classify", "--snapshot", "2", "--features", prompts, "--top", "1"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("rank") }.count == 4)
        #expect(lines.contains("\(prompts) row 2") && lines.contains { $0.hasPrefix("1 ") && $0.contains("hen") && $0.contains("Set2") },
                "\(text.stdout)")

        try copyImages([("rgb_64x48.png", "a.png"), ("baseline_88x60.jpg", "b.jpg")])
        let files = [scratch.path("img/a.png"), scratch.path("img/b.jpg")]
        let images = try run(["classify", "--snapshot", "1", "--json"] + files)
        #expect(images.status == 0, "\(images.stderr)")
        let imageJSON = try #require(try CLI.json(images) as? [[String: Any]])
        #expect(imageJSON.map { $0["input"] as? String } == files)
        #expect(imageJSON.allSatisfy { ($0["top"] as? [[String: Any]])?.count == 2 })
    }

    @Test func classifyRefusesBadInputNamingIt() throws {
        try storeForClassify()
        let good = try features("good.npy", rows: 2)
        try expectFailure(["classify", "--snapshot", "9", "--features", good], mentions: ["no snapshot 9"])
        try expectFailure(["classify", "--snapshot", "2", "--features", good, "--stages", "Set1,Set7"],
                          mentions: ["--stages", "'Set7'", "Set1, Set2"])
        try expectFailure(["classify", "--snapshot", "2", "--features", try features("wide.npy", rows: 2, width: 23)],
                          mentions: ["wide.npy", "23 wide", "24-wide"])
        try expectFailure(["classify", "--snapshot", "2", "--features", try features("nan.npy", rows: 2, poison: (1, .nan))],
                          mentions: ["nan.npy", "row 1", "nan"])
        try expectFailure(["classify", "--snapshot", "2", "--features", scratch.path("absent.npy")], mentions: ["absent.npy"])
        try copyImages([("rgb_64x48.png", "a.png"), ("text.png", "text.png")])
        try expectFailure(["classify", "--snapshot", "2", scratch.path("img/a.png"), scratch.path("img/missing.png")], mentions: ["missing.png"])
        try expectFailure(["classify", "--snapshot", "2", scratch.path("img/text.png")], mentions: ["text.png"])
        try expectFailure(["classify", "--snapshot", "2", "--features", good, "--top", "0"], mentions: ["--top"])
        try expectFailure(["classify", "--snapshot", "2", "--features", good, "--top", "-3"], mentions: ["--top"])
        try expectFailure(["classify", "--snapshot", "2", "--features", good, "--stages", "Set1,"], mentions: ["--stages"])
        try expectFailure(["classify", "--snapshot", "2", "--features", good, scratch.path("img/a.png")], mentions: ["--features"])
        try expectFailure(["classify", "--snapshot", "2"], mentions: ["--features"])
    }
}
