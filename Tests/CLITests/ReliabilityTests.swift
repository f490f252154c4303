import Foundation
import Formats
import Testing

/// Options and training runs that go wrong: refused with the option named before any work,
/// or stopped with a message, and the store left as it was.
extension StoreCommandTests {
    @Test func countsOutOfRangeAreRefusedBeforeAnyWork() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"], perClass: 4)
        let npy = try features("set1.npy", rows: rows)
        let huge = "9223372036854775807"
        for (option, value) in [("--epochs", huge), ("--batch-size", huge), ("--shots", huge), ("--views", huge), ("--n-ctx", "100000"),
                                ("--epochs", "0"), ("--warmup-epochs", "60"), ("--lr", "nan"), ("--momentum", "1")] {
            try expectFailure(["add-classes", csv, "--features", npy, "--method", "coop", option, value],
                              mentions: [option])
        }
    }

    @Test func aDivergedRunStopsAndWritesNothing() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat", "bird"], perClass: 4)
        let npy = try features("set1.npy", rows: rows)
        try expectFailure(["add-classes", csv, "--features", npy, "--lr", "1e30", "--epochs", "3"],
                          mentions: ["diverged", "epoch 1/3", "--lr"])
    }

    /// A run whose loss stays finite but explodes (L_WC grows with the square of the step) is
    /// divergence too: stopped naming the epoch and the term, nothing written.
    @Test func aRunWhoseLossExplodesWhileFiniteStopsAndWritesNothing() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat", "bird"], perClass: 4)
        let npy = try features("set1.npy", rows: rows)
        for method in ["lamm", "coop+lamm"] {
            let result = try expectFailure(["add-classes", csv, "--features", npy, "--method", method, "--lr", "1e6", "--epochs", "3"],
                                           mentions: ["diverged", "epoch ", "more than 100x", "L_WC grew most", "Nothing was written", "lower --lr"])
            #expect(result.status == 1)
            #expect(!result.stderr.contains("nan") && !result.stderr.contains("inf"), "\(result.stderr)")
        }
        // A sane learning rate trains as before.
        #expect(try run(["add-classes", csv, "--features", npy, "--epochs", "3"]).status == 0)
    }

    @Test func shotsAreWhatWasSampled() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"], perClass: 4)   // 3 train rows a class
        let result = try run(["add-classes", csv, "--features", try features("set1.npy", rows: rows), "--shots", "100",
                              "--epochs", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try CLI.json(result) as? [String: Any])
        #expect(json["shots"] as? Int == 3)
        let show = try #require(try CLI.json(try run(["show", "--snapshot", "1", "--json"])) as? [String: Any])
        let configuration = try #require(show["config"] as? [String: Any])
        #expect(configuration["shots"] as? Int == 3)
        // lambda1 = 1/n with the n that was sampled.
        let weights = try #require(configuration["loss_weights"] as? [String: Any])
        #expect(abs((weights["wc"] as? Double ?? 0) - 1.0 / 3) < 1e-6)
    }

    @Test func aPromptTooLongForTheContextNamesTheClassAndOption() throws {
        try initStore()
        // 60 context vectors leave 77 - 63 = 14 places for the class name's tokens.
        let long = "a very long class name with many words"
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", long], perClass: 3)
        let npy = try features("set1.npy", rows: rows)
        try expectFailure(["add-classes", csv, "--features", npy, "--method", "coop", "--n-ctx", "60"],
                          mentions: ["class '\(long)'", "--n-ctx 60", "77 positions"])
        // The same class fits LAMM's prompt, which keeps the four template words.
        #expect(try run(["add-classes", csv, "--features", npy, "--epochs", "1"]).status == 0)
    }
}

extension StoreCommandTests {
    /// A run that ends below zero-shot CLIP is written, with a warning: images that are CLIP's own
    /// prompt features (zero-shot scores 100%) against label vectors started at random and
    /// barely moved.
    @Test func aStageBelowItsZeroShotBaselineIsWarnedAbout() throws {
        try initStore()
        let classes = ["dog", "cat", "bird", "fish"]
        let encoded = try CLI.run(["encode-text", "--model", Self.model, "--json"] + classes.map { "a photo of a \($0)." })
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let lines = try #require(try CLI.json(encoded) as? [[String: Any]])
        let prompts = try lines.map { try #require($0["feature"] as? [Double]).map(Float.init) }
        var csv = "class,split\n", values: [Float] = []
        for (c, name) in classes.enumerated() {
            for split in ["train", "test"] {
                csv += "\(name),\(split)\n"
                values += prompts[c]
            }
        }
        let file = try scratch.write("set1.csv", csv)
        let npy = scratch.url.appendingPathComponent("set1.npy")
        try NPY.write(FloatMatrix(rows: values.count / Self.width, columns: Self.width, values: values), to: npy)
        let result = try run(["add-classes", file, "--features", npy.path, "--label-init", "random", "--lr", "1e-9", "--epochs", "1",
                              "--seed", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("below zero-shot CLIP's 100.00%"), "\(result.stderr)")
        #expect(result.stdout.contains("snapshot 1"))
    }
}

extension StoreCommandTests {
    /// Class names that cannot be shown or prompted are refused at their CSV row; names are
    /// shown escaped and shortened in every message.
    @Test func hostileClassNamesAreRefusedOrShownEscaped() throws {
        try initStore()
        func stage(_ name: String, _ classes: [String], trainFor: Set<String>) throws -> [String] {
            var csv = "class,split\n", rows = 0
            for c in classes {
                let quoted = "\"" + c.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                if trainFor.contains(c) { csv += "\(quoted),train\n"; rows += 1 }
                csv += "\(quoted),test\n"; rows += 1
            }
            return [try scratch.write("\(name).csv", csv), "--features", try features("\(name).npy", rows: rows)]
        }
        let nul = try stage("nul", ["dog", "ca\u{0}t"], trainFor: ["dog", "ca\u{0}t"])
        try expectFailure(["add-classes"] + nul, mentions: ["nul.csv, line 4", "ca\\u{0}t", "control character U+0000"])
        let bell = try stage("bell", ["ca\u{7}t"], trainFor: ["ca\u{7}t"])
        try expectFailure(["add-classes"] + bell, mentions: ["bell.csv, line 2", "U+0007"])

        let long = String(repeating: "x", count: 10_000)
        let huge = try stage("long", [long], trainFor: [long])
        let before = try contents()
        let refused = try run(["add-classes"] + huge)
        #expect(refused.status != 0 && refused.stderr.contains("long.csv, line 2") && refused.stderr.contains("too long"))
        #expect(refused.stderr.count < 500, "the name is not echoed whole: \(refused.stderr.count) characters")
        #expect(try contents() == before)

        // A right-to-left override is a legal character of a name, but messages show it escaped.
        let bidi = "abc\u{202E}fed"
        let override = try stage("bidi", ["dog", bidi], trainFor: ["dog"])
        try expectFailure(["add-classes"] + override, mentions: ["'abc\\u{202e}fed'", "no training rows"])
        #expect(try !run(["add-classes"] + override).stderr.contains("\u{202E}"))
    }

    @Test func negativeNumbersReachTheRangeCheck() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        let npy = try features("set1.npy", rows: rows)
        for option in ["--epochs", "--batch-size", "--shots", "--views", "--n-ctx", "--warmup-epochs"] {
            let result = try run(["add-classes", csv, "--features", npy, option, "-3"])
            #expect(result.status != 0)
            #expect(result.stderr.contains(option) && !result.stderr.contains("Missing value"), "\(option) -3: \(result.stderr)")
        }
        let snapshot = try run(["show", "--snapshot", "-1"])
        #expect(snapshot.status != 0 && snapshot.stderr.contains("no snapshot -1"), "\(snapshot.stderr)")
    }

    @Test func aTruncatedSplitFileSaysSo() throws {
        try initStore()
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("img"), withIntermediateDirectories: true)
        let whole = #"{"train": [["a.png", 0, "apple"]], "test": [["b.png", 0, "apple"]]}"#
        let cut = try scratch.write("split_zhou_Cut.json", String(whole.prefix(30)))
        try expectFailure(["import-split", cut, "--images", scratch.path("img")], mentions: ["split_zhou_Cut.json", "ends early at byte 30"])
        let notObject = try scratch.write("split_zhou_List.json", "[1, 2]")
        try expectFailure(["import-split", notObject, "--images", scratch.path("img")], mentions: ["the top level is not a JSON object"])
    }
}
