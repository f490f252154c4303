import Continual
import Formats
import Foundation
import GRDB
import Methods
@testable import Store
import Testing
import Training
@testable import lamm_store

/// End to end: the built binary on a store bound to the tiny CLIP fixture (feature width 24).
@Suite struct StoreCommandTests {
    let scratch: Scratch
    let db: String
    static let model = CLI.fixtures.appendingPathComponent("clip-tiny").path
    static let width = 24

    init() throws {
        scratch = try Scratch()
        db = scratch.path("store.sqlite")
    }

    func run(_ arguments: [String]) throws -> CLIResult {
        try CLI.run(arguments + ["--db", db])
    }

    func initStore() throws {
        let result = try run(["init", "--model", Self.model])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// One feature row per CSV data row: distinct, finite, non-zero.
    func features(_ name: String, rows: Int, width: Int = StoreCommandTests.width, poison: (row: Int, value: Float)? = nil) throws -> String {
        var values: [Float] = (0..<(rows * width)).map { (i: Int) -> Float in
            Float((i * 7919) % 101) / 50 - 1 + 0.001
        }
        if let poison { values[poison.row * width + 3] = poison.value }
        let url = scratch.url.appendingPathComponent(name)
        try NPY.write(FloatMatrix(rows: rows, columns: width, values: values), to: url)
        return url.path
    }

    func stageCSV(_ name: String, classes: [String], perClass: Int = 3) throws -> (csv: String, rows: Int) {
        var text = "class,split\n"
        for c in classes {
            for i in 0..<perClass { text += "\"\(c)\",\(i == perClass - 1 ? "test" : "train")\n" }
        }
        return (try scratch.write(name, text), classes.count * perClass)
    }

    /// The store's contents, read without writing. (Opening a WAL database for writing makes
    /// SQLite bump header counters even when nothing changes, so the check is logical.)
    func contents() throws -> String? {
        guard FileManager.default.fileExists(atPath: db) else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: db, configuration: configuration).read { try LabelStore.contentDump(SQLiteDatabase(db: $0)) }
    }

    /// A command that must fail: non-zero exit, a message naming each of `mentions`, the
    /// store's contents as they were, and no write-ahead log left beside it.
    @discardableResult
    func expectFailure(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CLIResult {
        let before = try contents()
        let result = try run(arguments)
        #expect(result.status != 0, "exit status for \(arguments)", sourceLocation: sourceLocation)
        for mention in mentions {
            #expect(result.stderr.contains(mention), "stderr of \(arguments) lacks '\(mention)': \(result.stderr)", sourceLocation: sourceLocation)
        }
        let after = try contents()
        #expect(before == after, "the database changed after \(arguments)", sourceLocation: sourceLocation)
        let wal = URL(fileURLWithPath: db + "-wal")
        let walBytes = FileManager.default.fileExists(atPath: wal.path) ? try Data(contentsOf: wal).count : 0
        #expect(walBytes == 0, "a write-ahead log was left after \(arguments)", sourceLocation: sourceLocation)
        return result
    }

    @Test func initRegistersTheModelOnceAndRefusesAnother() throws {
        let first = try run(["init", "--model", Self.model, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let record = try #require(try CLI.json(first) as? [String: Any])
        #expect(record["token_embedding_width"] as? Int == 32)
        #expect(record["feature_width"] as? Int == Self.width)
        #expect((record["weights_sha256"] as? String)?.count == 64)
        #expect(try run(["init", "--model", Self.model]).status == 0)
        try expectFailure(["init", "--model", CLI.fixtures.appendingPathComponent("clip-tiny-f16").path],
                          mentions: ["bound to the model", "clip-tiny-f16", "another --db"])
        try expectFailure(["init", "--model", CLI.fixtures.appendingPathComponent("clip-tiny-gelu").path],
                          mentions: ["same weights but another config.json"])
    }

    @Test func initRefusesAMissingOrMalformedModelDirectoryAndCreatesNoStore() throws {
        try expectFailure(["init", "--model", scratch.path("nowhere")], mentions: ["nowhere"])
        try scratch.write("config.json", "{ not json")
        try expectFailure(["init", "--model", scratch.url.path], mentions: ["config.json"])
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func addClassesRegistersAStageAndReportsIt() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat, tabby"])
        let result = try run(["add-classes", csv, "--features", try features("set1.npy", rows: rows), "--dataset", "pets", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try CLI.json(result) as? [String: Any])
        let registration = try #require(json["registration"] as? [String: Any])
        #expect(registration["stage"] as? String == "Set1" && registration["classes"] as? Int == 2)
        #expect(registration["train"] as? Int == 4 && registration["test"] as? Int == 2)
        let snapshot = try #require(json["snapshot"] as? [String: Any])
        #expect(snapshot["method"] as? String == "lamm" && snapshot["id"] as? Int == 1)
        #expect(json["baseline"] is Double)
        let (csv2, rows2) = try stageCSV("set2.csv", classes: ["hen"])
        let plain = try run(["add-classes", csv2, "--features", try features("set2.npy", rows: rows2)])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("Set2") && plain.stdout.contains("'pets'"))
        // LAMM_STORE_DB names the store when --db is absent.
        let viaEnvironment = try CLI.run(["snapshots", "--json"], environment: ["LAMM_STORE_DB": db])
        #expect(viaEnvironment.status == 0 && viaEnvironment.stdout.contains("[") , "\(viaEnvironment.stderr)")
    }

    @Test func badStageFilesAreRefusedWithTheirFileAndRow() throws {
        try initStore()
        let (good, goodRows) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        let goodFeatures = try features("set1.npy", rows: goodRows)
        #expect(try run(["add-classes", good, "--features", goodFeatures]).status == 0)

        try expectFailure(["add-classes", scratch.path("missing.csv"), "--features", goodFeatures], mentions: ["missing.csv", "no such file"])
        try expectFailure(["add-classes", try scratch.write("empty.csv", ""), "--features", goodFeatures], mentions: ["empty.csv", "empty"])
        let one = try features("one.npy", rows: 1)
        try expectFailure(["add-classes", try scratch.write("noclass.csv", "label,split\nhen,train\n"), "--features", one],
                          mentions: ["noclass.csv", "no `class` column"])
        try expectFailure(["add-classes", try scratch.write("unknown.csv", "class,split,colour\nhen,train,red\n"), "--features", one],
                          mentions: ["unknown.csv", "`colour`"])
        let two = try features("two.npy", rows: 2)
        try expectFailure(["add-classes", try scratch.write("few.csv", "class,split\nhen,train\nowl\n"), "--features", two],
                          mentions: ["few.csv, line 3", "found 1"])
        try expectFailure(["add-classes", try scratch.write("many.csv", "class,split\nhen,train\nowl,test,x\n"), "--features", two],
                          mentions: ["many.csv, line 3", "found 3"])
        try expectFailure(["add-classes", try scratch.write("split.csv", "class,split\nhen,train\nowl,training\n"), "--features", two],
                          mentions: ["split.csv, line 3", "'training'"])
        try expectFailure(["add-classes", try scratch.write("blank.csv", "class,split\nhen,train\n\"\",test\n"), "--features", two],
                          mentions: ["blank.csv, line 3", "class name is empty"])
        let hen = try scratch.write("hen.csv", "class,split\nhen,train\nhen,test\n")
        try expectFailure(["add-classes", hen, "--features", try features("three.npy", rows: 3)], mentions: ["three.npy has 3 rows", "hen.csv has 2"])
        try expectFailure(["add-classes", hen, "--features", try features("narrow.npy", rows: 2, width: 23)], mentions: ["narrow.npy", "23 wide", "24"])
        try expectFailure(["add-classes", hen, "--features", try features("nan.npy", rows: 2, poison: (1, .nan))], mentions: ["nan.npy, row 1", "nan"])
        try expectFailure(["add-classes", hen, "--features", try features("inf.npy", rows: 2, poison: (0, -.infinity))], mentions: ["inf.npy, row 0", "-inf"])
        let twoRows = try Data(contentsOf: URL(fileURLWithPath: two))
        try expectFailure(["add-classes", hen, "--features", try scratch.write("cut.npy", twoRows.dropLast(10))], mentions: ["cut.npy", "truncated"])
        var f8 = twoRows
        f8.replaceSubrange(f8.range(of: Data("<f4".utf8))!, with: Data("<f8".utf8))
        try expectFailure(["add-classes", hen, "--features", try scratch.write("f8.npy", f8)], mentions: ["f8.npy", "'<f8'", "float32"])
        var rank = twoRows
        rank.replaceSubrange(rank.range(of: Data("(2, 24)".utf8))!, with: Data("(48,)  ".utf8))
        try expectFailure(["add-classes", hen, "--features", try scratch.write("rank.npy", rank)], mentions: ["rank.npy", "2-D"])
        try expectFailure(["add-classes", hen, "--features", scratch.path("absent.npy")], mentions: ["absent.npy", "no such file"])
        try expectFailure(["add-classes", try scratch.write("images.csv", "class,split,image\nhen,train,h.png\n")],
                          mentions: ["h.png", "no such file"])
        let again = try scratch.write("again.csv", "class,split\nhen,train\ndog,test\n")
        try expectFailure(["add-classes", again, "--features", two], mentions: ["again.csv, line 3", "'dog'", "stage Set1"])
        try expectFailure(["add-classes", hen, "--features", two, "--stage", "Set1"], mentions: ["stage Set1", "registered with other content"])
        try expectFailure(["add-classes", hen, "--features", two, "--dataset", ""], mentions: ["--dataset"])
    }

    @Test func storeLevelErrors() throws {
        try expectFailure(["snapshots"], mentions: ["no store at", "lamm-store init"])
        #expect(!FileManager.default.fileExists(atPath: db))
        try initStore()
        try expectFailure(["show", "--snapshot", "42"], mentions: ["no snapshot 42"])
        try expectFailure(["diff", "1", "2"], mentions: ["no snapshot 1"])
        try expectFailure(["export", "--snapshot", "7", "--out", scratch.path("x.npy")], mentions: ["no snapshot 7"])
        try expectFailure(["snapshots", "--dataset", "zoo"], mentions: ["no dataset named 'zoo'"])
        // A newer schema than this binary knows.
        try DatabaseQueue(path: db).write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        try expectFailure(["snapshots"], mentions: ["newer lamm-store", "9999_future"])
        // Not an SQLite file.
        let text = try scratch.write("notes.txt", String(repeating: "not a database\n", count: 20))
        let result = try CLI.run(["snapshots", "--db", text])
        #expect(result.status != 0 && result.stderr.contains("notes.txt") && result.stderr.contains("not a lamm-store database"))
        #expect(try String(contentsOfFile: text, encoding: .utf8) == String(repeating: "not a database\n", count: 20))
    }

    /// Snapshots written through the library (training comes from the trainer), read by the CLI.
    /// Two zero-shot snapshots from add-classes, then two lamm snapshots written by the library.
    func storeWithSnapshots() throws -> (first: Int64, second: Int64) {
        try initStore()
        let (csv1, rows1) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        #expect(try run(["add-classes", csv1, "--features", try features("set1.npy", rows: rows1), "--dataset", "pets", "--method", "zeroshot"]).status == 0)
        let (csv2, rows2) = try stageCSV("set2.csv", classes: ["hen", "owl"])
        #expect(try run(["add-classes", csv2, "--features", try features("set2.npy", rows: rows2), "--method", "zeroshot"]).status == 0)
        let store = try LabelStore.open(path: db, access: .write)
        func v(_ seed: Float, _ tokens: Int = 1) -> TokenVectors {
            TokenVectors(tokenCount: tokens, width: 32, values: (0..<(32 * tokens)).map { seed + Float($0) / 64 })
        }
        let a = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set1", method: .lamm, trained: ["dog": v(1), "cat": v(2, 2)],
                                                    configJSON: #"{"seed":1}"#))
        let b = try store.writeSnapshot(NewSnapshot(dataset: "pets", stage: "Set2", method: .lamm, trained: ["hen": v(3), "owl": v(4)]))
        return (a.id!, b.id!)
    }

    @Test func snapshotsShowDiffAndVerify() throws {
        let (first, second) = try storeWithSnapshots()
        let all = try #require(try CLI.json(try run(["snapshots", "--json"])) as? [[String: Any]])
        #expect(all.count == 4)
        let list = all.filter { $0["method"] as? String == "lamm" }
        #expect(list.count == 2)
        for key in ["id", "dataset", "method", "stage", "parent", "created_at"] {
            #expect(list.allSatisfy { $0[key] != nil }, "snapshots --json lacks \(key)")
        }
        #expect(list[1]["parent"] as? Int64 == first && list[1]["stage"] as? String == "Set2" && list[1]["method"] as? String == "lamm")
        let plain = try run(["snapshots"])
        #expect(plain.stdout.contains("lamm") && plain.stdout.contains("Set2"))

        let show = try #require(try CLI.json(try run(["show", "--snapshot", "\(second)", "--json"])) as? [String: Any])
        let labels = try #require(show["labels"] as? [[String: Any]])
        #expect(labels.map { $0["class_name"] as? String } == ["dog", "cat", "hen", "owl"])
        #expect(labels.map { $0["introduced_by"] as? Int64 } == [first, first, second, second])
        #expect(try run(["show", "--snapshot", "\(first)"]).stdout.contains("this snapshot"))

        let diff = try #require(try CLI.json(try run(["diff", "\(first)", "\(second)", "--json"])) as? [String: Any])
        let changed = try #require(diff["changed"] as? [[String: Any]])
        #expect(changed.map { $0["class_name"] as? String } == ["hen", "owl"])
        #expect(diff["unchanged"] as? Int == 2)

        let verify = try run(["verify", "--json"])
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect((try CLI.json(verify) as? [String: Any])?["ok"] as? Bool == true)
    }

    @Test func verifyExitsNonZeroOnATamperedStore() throws {
        _ = try storeWithSnapshots()
        try DatabaseQueue(path: db).write { db in
            try db.execute(sql: "DROP TRIGGER label_embedding_no_update")
            try db.execute(sql: "UPDATE label_embedding SET vectors = zeroblob(length(vectors)) WHERE id = 3")
        }
        let result = try run(["verify"])
        #expect(result.status != 0)
        #expect(result.stdout.contains("FAIL") && result.stdout.contains("label_embedding 3"))
    }

    @Test func exportWritesNpyAndSafetensors() throws {
        let (_, second) = try storeWithSnapshots()
        let npy = scratch.path("labels.npy")
        let result = try run(["export", "--snapshot", "\(second)", "--out", npy, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let matrix = try NPY.read(URL(fileURLWithPath: npy))
        #expect(matrix.rows == 5 && matrix.columns == 32)   // dog 1 + cat 2 + hen 1 + owl 1 token rows
        let json = try #require(try CLI.json(result) as? [String: Any])
        let classes = try #require(json["classes"] as? [[String: Any]])
        #expect(classes.map { $0["first_row"] as? Int } == [0, 1, 3, 4])
        #expect(matrix.values[32] == 2)  // cat's first token row starts at seed 2

        let st = scratch.path("labels.safetensors")
        #expect(try run(["export", "--snapshot", "\(second)", "--out", st]).status == 0)
        let file = try SafetensorsFile(url: URL(fileURLWithPath: st))
        #expect(try file.info("label_embedding.cat").shape == [2, 32])
        #expect(try file.floats("label_embedding.owl").first == 4)
        #expect(file.metadata["snapshot"] == "\(second)")
        // What a PyTorch user needs besides the vectors: each class's prompt and where its vectors
        // go, the classifier and the logit scale.
        #expect(file.metadata["template"] == "a photo of a {}." && file.metadata["context_positions"] == "[]")
        let catIDs = try file.integers("prompt_ids.cat")
        #expect(try file.integers("label_positions.cat") == [5, 6] && catIDs[5] == 0 && catIDs[6] == 0 && catIDs.count == 9)
        #expect(catIDs[0] != 0 && catIDs[1...4].allSatisfy { $0 != 0 })
        #expect(try file.info("text_features").shape == [4, 24])
        let features = try file.floats("text_features")
        for c in 0..<4 {
            let norm = features[(c * 24)..<((c + 1) * 24)].map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect(try file.floats("logit_scale")[0] > 1)

        try expectFailure(["export", "--snapshot", "\(second)", "--out", scratch.path("labels.txt")], mentions: ["--out", ".safetensors", ".npy"])
        try expectFailure(["export", "--snapshot", "\(second)", "--out", "/nonexistent-dir/x.npy"], mentions: ["/nonexistent-dir/x.npy"])
    }
}

@Suite struct CommandParsingTests {
    @Test func refusesBadArguments() {
        #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(["show"]) }
        #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(["show", "--snapshot", ""]) }
        // A snapshot that is not a number is a tag's name, looked up when the command runs.
        #expect((try? LAMMStoreCommand.parseAsRoot(["show", "--snapshot", "three"]) as? ShowCommand)?.snapshotReference == .tag("three"))
        #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(["diff", "1"]) }
    }

    @Test func sharedOptionsParseAlikeEverywhere() throws {
        // Without training flags a run uses exactly the library's defaults, and the help shows them.
        let plain = try #require(try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv"]) as? AddClassesCommand)
        #expect(plain.training.configuration == LAMMConfiguration())
        let help = AddClassesCommand.helpMessage(columns: 1000)
        let maple = LAMMConfiguration.defaults(for: .maple)
        #expect(help.contains("Epochs (default \(LAMMConfiguration().epochs); MaPLe \(maple.epochs))")
                && help.contains("(default \(LAMMConfiguration().learningRate); MaPLe \(maple.learningRate))"), "\(help)")
        // MaPLe's own defaults (its official config) apply when --method maple sets no other value.
        let mapleRun = try #require(try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv", "--method", "maple"]) as? AddClassesCommand)
        #expect(mapleRun.training.configuration == maple)
        let overridden = try #require(try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv", "--method", "maple+lamm", "--epochs", "7",
                                                                       "--n-ctx", "3", "--prompt-depth", "2"]) as? AddClassesCommand)
        #expect(overridden.training.configuration.epochs == 7 && overridden.training.configuration.contextLength == 3
                && overridden.training.configuration.promptDepth == 2 && overridden.training.configuration.batchSize == maple.batchSize)
        let demo = try #require(try LAMMStoreCommand.parseAsRoot(["demo"]) as? DemoCommand)
        #expect(demo.epochs == LAMMConfiguration().epochs && demo.seed == LAMMConfiguration().seed && demo.methods == [.lamm, .coop, .coopLAMM, .maple, .mapleLAMM])

        let add = try #require(try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv", "--dataset", "pets", "--protocol", "class",
                                                                "--model", "m", "--quiet"]) as? AddClassesCommand)
        #expect(add.dataset.name == "pets" && add.labelSpace.protocol == .class && add.model.directory?.lastPathComponent == "m" && add.progress.quiet)
        let split = try #require(try LAMMStoreCommand.parseAsRoot(["import-split", "s.json", "--images", "i", "--dataset", "pets",
                                                                  "--protocol", "class", "--model", "m", "--quiet"]) as? ImportSplitCommand)
        #expect(split.dataset.name == "pets" && split.labelSpace.protocol == .class && split.model.model == "m" && split.progress.quiet)
        let eval = try #require(try LAMMStoreCommand.parseAsRoot(["eval", "--snapshot", "1", "--protocol", "class", "--model", "m"]) as? EvalCommand)
        #expect(eval.options.labelSpace.protocol == .class && eval.options.model.model == "m" && eval.dataset.name == nil)
        for command in [["add-classes", "s.csv"], ["import-split", "s.json", "--images", "i"], ["snapshots"], ["compare"], ["eval", "--snapshot", "1"]] {
            #expect(throws: (any Error).self, "\(command)") { try LAMMStoreCommand.parseAsRoot(command + ["--dataset", " "]) }
        }
    }

    @Test func methodTakesEveryTrainableMethod() throws {
        for (name, method) in [("coop+lamm", Method.coopLAMM), ("maple", .maple), ("maple+lamm", .mapleLAMM)] {
            let parsed = try #require(try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv", "--method", name]) as? AddClassesCommand)
            #expect(parsed.training.method == method)
            let split = try #require(try LAMMStoreCommand.parseAsRoot(["import-split", "s.json", "--images", "i", "--method", name]) as? ImportSplitCommand)
            #expect(split.training.method == method)
        }
        for method in ["clip", "MaPLe", "maple+coop"] {
            #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(["add-classes", "s.csv", "--method", method]) }
            #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(["import-split", "s.json", "--images", "i", "--method", method]) }
        }
        let help = AddClassesCommand.helpMessage(columns: 1000)
        #expect(help.contains("zeroshot, lamm, coop, coop+lamm, maple, maple+lamm"), "\(help)")
    }

    @Test func versionIsThePackagesVersion() throws {
        let result = try CLI.run(["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == lammStoreVersion + "\n")
        #expect(lammStoreVersion.split(separator: ".").count == 3 && lammStoreVersion.split(separator: ".").allSatisfy { Int($0) != nil })
    }

    @Test func helpOnAnUnknownCommandFails() throws {
        #expect(LAMMStoreCommand.unknownHelpTopic(["help", "nosuch"]) == "nosuch")
        #expect(LAMMStoreCommand.unknownHelpTopic(["help", "add-classes"]) == nil)
        #expect(LAMMStoreCommand.unknownHelpTopic(["show", "nosuch"]) == nil)
        let result = try CLI.run(["help", "nosuch"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("'nosuch'") && result.stderr.contains("add-classes"), "\(result.stderr)")
        let known = try CLI.run(["help", "show"])
        #expect(known.status == 0 && known.stdout.contains("--snapshot"), "\(known.stderr)")
    }

    @Test func helpListsTheSubcommands() throws {
        let result = try CLI.run(["--help"])
        #expect(result.status == 0)
        for name in ["init", "add-classes", "snapshots", "show", "diff", "export", "verify"] {
            #expect(result.stdout.contains(name), "--help lacks \(name)")
        }
    }
}
