import Foundation
import Testing

/// A synthetic 100-class ImageFolder tree imported as B0 Inc10 in numpy's seed-1993 order, 10
/// LAMM stages and 10 CoOp stages trained, and compare's per-step figures checked against a
/// recomputation from its own accuracy matrix; LAMM's old classes keep their task-IL accuracy.
extension StoreCommandTests {
    /// DIR/train/<class>/{a.png, b.jpg}, DIR/test/<class>/c.png for `count` classes.
    func imageFolder(_ name: String, classes count: Int) throws -> (root: String, classes: [String]) {
        let root = scratch.url.appendingPathComponent(name)
        let images = CLI.fixtures.appendingPathComponent("images")
        let sources = ["rgb_64x48.png", "baseline_88x60.jpg", "gray_37x61.png", "rgba_64x48.png", "progressive_88x60.jpg", "palette_37x61.png"]
        let classes = (0..<count).map { String(format: "class%03d", $0) }
        for (k, name) in classes.enumerated() {
            for (split, files) in [("train", ["a.png", "b.jpg"]), ("test", ["c.png"])] {
                let folder = root.appendingPathComponent(split).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (i, file) in files.enumerated() {
                    let source = sources[(k + i + (split == "test" ? 2 : 0)) % sources.count]
                    let ext = (source as NSString).pathExtension
                    try FileManager.default.copyItem(at: images.appendingPathComponent(source),
                                                     to: folder.appendingPathComponent(((file as NSString).deletingPathExtension) + "." + ext))
                }
            }
        }
        try Data("notes".utf8).write(to: root.appendingPathComponent("train/class000/README.txt"))
        return (root.path, classes)
    }

    @Test func aHundredClassTreeAsB0Inc10InNumPysOrder() throws {
        try initStore()
        let (root, classes) = try imageFolder("tree100", classes: 100)
        for method in ["lamm", "coop"] {
            // CoOp's shared context moves far enough to change old stages' predictions.
            let options = method == "coop" ? ["--epochs", "5", "--lr", "0.05"] : ["--epochs", "1"]
            let imported = try run(["import-folder", root, "--increments", "10,10", "--class-order", "seed:1993", "--method", method, "--quiet", "--json"]
                                   + options)
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stderr.contains("1 file in \(root) are not .jpg") || imported.stderr.contains("1 file"), "\(imported.stderr)")
            let stages = try #require(try CLI.json(imported) as? [[String: Any]])
            #expect(stages.count == 10 && stages.allSatisfy { ($0["registration"] as? [String: Any])?["classes"] as? Int == 10 })
        }
        // The stages hold the classes in numpy's order: np.random.seed(1993); np.random.permutation(100).
        let fixture = CLI.fixtures.appendingPathComponent("class-orders/numpy_permutations.json")
        let cases = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])?["cases"] as? [[String: Any]])
        let permutation = try #require(cases.first { $0["seed"] as? Int == 1993 && $0["classes"] as? Int == 100 }?["permutation"] as? [Int])
        let snapshots = try #require(try CLI.json(try run(["snapshots", "--json"])) as? [[String: Any]])
        #expect(snapshots.count == 20)
        let last = try #require(snapshots.last { $0["method"] as? String == "lamm" }?["id"] as? Int)
        let labels = try #require((try CLI.json(try run(["show", "--snapshot", "\(last)", "--json"])) as? [String: Any])?["labels"] as? [[String: Any]])
        #expect(labels.map { $0["class_name"] as? String ?? "" } == permutation.map { classes[$0] })
        #expect(labels.prefix(10).allSatisfy { $0["stage"] as? String == "Set1" } && labels.suffix(10).allSatisfy { $0["stage"] as? String == "Set10" })

        for protocolName in ["task", "class"] {
            let compared = try run(["compare", "--json", "--protocol", protocolName])
            #expect(compared.status == 0, "\(compared.stderr)")
            let dataset = try #require(((try CLI.json(compared) as? [String: Any])?["datasets"] as? [[String: Any]])?.first)
            let counts = try #require(dataset["sample_counts"] as? [Int])
            #expect(counts == Array(repeating: 10, count: 10))
            let methods = try #require(dataset["methods"] as? [[String: Any]])
            #expect(methods.map { $0["method"] as? String } == ["lamm", "coop"])
            for method in methods {
                let r = try #require((method["matrix"] as? [String: Any])?["values"] as? [[Any]]).map { $0.map { $0 as? Double } }
                let metrics = try #require(method["metrics"] as? [String: Any])
                let steps = try #require(metrics["steps"] as? [[String: Any]])
                #expect(r.count == 10 && steps.count == 10)
                // Recomputed here: every stage has 10 test rows, so seen/old/new are plain means.
                var seenSoFar: [Double] = []
                for t in 0..<10 {
                    let seen = (0...t).map { r[t][$0]! }.reduce(0, +) / Double(t + 1)
                    seenSoFar.append(seen)
                    #expect(abs((steps[t]["seen"] as! Double) - seen) < 1e-9)
                    #expect(abs((steps[t]["new"] as! Double) - r[t][t]!) < 1e-9)
                    if t > 0 {
                        let old = (0..<t).map { r[t][$0]! }.reduce(0, +) / Double(t)
                        let forgetting = (0..<t).map { k in (k..<t).map { r[$0][k]! }.max()! - r[t][k]! }.reduce(0, +) / Double(t)
                        #expect(abs((steps[t]["old"] as! Double) - old) < 1e-9 && abs((steps[t]["forgetting"] as! Double) - forgetting) < 1e-9)
                    }
                }
                let avg = seenSoFar.reduce(0, +) / 10
                #expect(abs((metrics["average_incremental_accuracy"] as! Double) - avg) < 1e-9)
                #expect(abs((metrics["last_accuracy"] as! Double) - seenSoFar[9]) < 1e-9)
                if protocolName == "task" {
                    // LAMM's old classes keep their rows, so their task-IL accuracy never changes;
                    // CoOp's shared context moves, and with it some old stage's accuracy.
                    let unchanged = (0..<10).allSatisfy { k in (k..<10).allSatisfy { t in r[t][k] == r[k][k] } }
                    #expect(unchanged == (method["method"] as? String == "lamm"), "\(method["method"]!): \(r)")
                }
            }
        }
        let text = try run(["compare"])
        #expect(text.stdout.contains("per step (accuracy on the classes seen so far"), "\(text.stdout)")
        #expect(try run(["verify"]).status == 0)
    }
}

extension StoreCommandTests {
    /// One tree DIR/<class>/... cut by --test-fraction with the seed; the layouts' errors name
    /// the folder and what to do, and leave the store as it was.
    @Test func importFolderReadsOneTreeAndRefusesBadLayouts() throws {
        try initStore()
        let images = CLI.fixtures.appendingPathComponent("images")
        let tree = scratch.url.appendingPathComponent("pets")
        for name in ["cat", "dog", "Cafe\u{301}"] {
            let folder = tree.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (k, source) in ["rgb_64x48.png", "baseline_88x60.jpg", "gray_37x61.png", "rgba_64x48.png", "palette_37x61.png"].enumerated() {
                try FileManager.default.copyItem(at: images.appendingPathComponent(source), to: folder.appendingPathComponent("\(k)-\(source)"))
            }
        }
        let before = try contents()
        for (arguments, mention) in [([tree.path], "--test-fraction"), ([tree.path, "--test-fraction", "1.5"], "between 0 and 1"),
                                     ([scratch.path("missing")], "is not a folder")] {
            let result = try run(["import-folder"] + arguments + ["--epochs", "1", "--quiet"])
            #expect(result.status != 0 && result.stderr.contains(mention), "\(result.stderr)")
        }
        #expect(try contents() == before)
        let imported = try run(["import-folder", tree.path, "--test-fraction", "0.2", "--seed", "3", "--epochs", "1", "--quiet", "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let stages = try #require(try CLI.json(imported) as? [[String: Any]])
        // 3 classes sorted (NFC: Café first), 2 stages; 1 test image of 5 per class.
        let registrations = stages.compactMap { $0["registration"] as? [String: Any] }
        #expect(registrations.map { $0["dataset"] as? String } == ["pets", "pets"])
        #expect(registrations.map { $0["classes"] as? Int } == [2, 1])
        #expect(registrations.map { $0["train"] as? Int } == [8, 4] && registrations.map { $0["test"] as? Int } == [2, 1])
        let last = try #require(stages.last?["snapshot"] as? [String: Any])["id"] as! Int
        let labels = try #require((try CLI.json(try run(["show", "--snapshot", "\(last)", "--json"])) as? [String: Any])?["labels"] as? [[String: Any]])
        #expect(labels.map { $0["class_name"] as? String } == ["Caf\u{e9}", "cat", "dog"])
        // A split layout without test/ is refused.
        let split = scratch.url.appendingPathComponent("split/train/cat")
        try FileManager.default.createDirectory(at: split, withIntermediateDirectories: true)
        let noTest = try run(["import-folder", scratch.path("split"), "--quiet"])
        #expect(noTest.status != 0 && noTest.stderr.contains("no test/ folder"), "\(noTest.stderr)")
    }
}
