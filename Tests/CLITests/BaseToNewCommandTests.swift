import Foundation
import Testing

/// `eval --on-new` through the built binary on MaPLe, whose prompts act in both towers: the new
/// classes take its context and deep prompts, its image tower sees their pictures; compare shows
/// base, new and HM. A stage the snapshot trained is refused, the store as it was.
extension StoreCommandTests {
    @Test func baseToNewOnMaPLeAgreesWithEvalAndCompare() throws {
        try initStore()
        let (set1, set2) = try mapleStages()
        let options = ["--method", "maple", "--prompt-depth", "2", "--epochs", "2", "--quiet"]
        #expect(try run(["add-classes", set1, "--dataset", "things"] + options).status == 0)
        #expect(try run(["add-classes", set2] + options).status == 0)

        let result = try run(["eval", "--snapshot", "1", "--on-new", "things:Set2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try CLI.json(result) as? [String: Any])
        let base = try #require(json["base"] as? [String: Any]), new = try #require(json["new"] as? [String: Any])
        let b = try #require(base["accuracy"] as? Double), n = try #require(new["accuracy"] as? Double)
        #expect(base["classes"] as? Int == 2 && new["classes"] as? Int == 2 && new["stages"] as? [String] == ["Set2"])
        let hm = try #require(json["harmonic_mean"] as? Double)
        #expect(abs(hm - (b + n == 0 ? 0 : 2 * b * n / (b + n))) < 1e-9)

        // Base is snapshot 1's own evaluation; zero-shot CLIP on the new rows is Set2's baseline.
        let own = try #require(try CLI.json(try run(["eval", "--snapshot", "1", "--json"])) as? [String: Any])
        let ownSet1 = try #require((own["stages"] as? [[String: Any]])?.first)
        #expect(ownSet1["accuracy"] as? Double == b && ownSet1["baseline"] as? Double == base["baseline"] as? Double)
        let later = try #require(try CLI.json(try run(["eval", "--snapshot", "2", "--json"])) as? [String: Any])
        let laterSet2 = try #require((later["stages"] as? [[String: Any]])?.last)
        #expect(laterSet2["baseline"] as? Double == new["baseline"] as? Double)

        // compare: Set2 before its training is the same score (R[0][1]); the base-to-new row is the stored one.
        let compare = try #require(try CLI.json(try run(["compare", "--json"])) as? [String: Any])
        let dataset = try #require((compare["datasets"] as? [[String: Any]])?.first)
        let maple = try #require((dataset["methods"] as? [[String: Any]])?.first { $0["method"] as? String == "maple" })
        let matrix = try #require((maple["matrix"] as? [String: Any])?["values"] as? [[Double]])
        #expect(matrix[0][1] == n)
        let rows = try #require(dataset["base_to_new"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["snapshot"] as? Int == 1 && rows[0]["trained_stage"] as? String == "Set1")
        #expect(rows[0]["base"] as? Double == b && rows[0]["new"] as? Double == n && rows[0]["harmonic_mean"] as? Double == hm)
        let text = try run(["compare"])
        #expect(text.stdout.contains("base-to-new") && text.stdout.contains("things:Set2"), "\(text.stdout)")

        try expectFailure(["eval", "--snapshot", "2", "--on-new", "things:Set2"], mentions: ["--on-new", "Set2", "snapshot 2"])
        try expectFailure(["eval", "--snapshot", "1", "--on-new", "things"], mentions: ["--on-new", "Set1, Set2"])
        try expectFailure(["eval", "--snapshot", "1", "--on-new", "things:Set2", "--on", "things"], mentions: ["--on-new"])
        try expectFailure(["eval", "--snapshot", "1", "--on-new", "things:Set2", "--protocol", "class"], mentions: ["--on-new", "--protocol"])
    }
}
