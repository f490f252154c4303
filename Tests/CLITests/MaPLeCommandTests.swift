import Foundation
import GRDB
import Testing

/// MaPLe and MaPLe+LAMM through the built binary: stages from images, snapshots that continue,
/// eval through the prompted image tower (cached), show, diff, export, compare, classify, and the
/// errors a user can cause. The tiny checkpoint's towers have 2 blocks, so depth is at most 2.
extension StoreCommandTests {
    /// Two stages of two classes each, from fixture images (train and test rows).
    func mapleStages() throws -> (set1: String, set2: String) {
        try copyImages([("rgb_64x48.png", "a1.png"), ("rgba_64x48.png", "a2.png"), ("gray_37x61.png", "a3.png"),
                        ("baseline_88x60.jpg", "b1.jpg"), ("progressive_88x60.jpg", "b2.jpg"), ("gray_64x48.jpg", "b3.jpg"),
                        ("palette_37x61.png", "c1.png"), ("cmyk_40x30.jpg", "c2.png"), ("downscale_300x260.png", "c3.png"),
                        ("restart_64x48.jpg", "d1.jpg"), ("upscale_150x100.png", "d2.png"), ("gray16_30x20.png", "d3.png")])
        let set1 = try scratch.write("set1.csv", """
            class,split,image
            apple,train,img/a1.png
            apple,train,img/a2.png
            apple,test,img/a3.png
            boat,train,img/b1.jpg
            boat,train,img/b2.jpg
            boat,test,img/b3.jpg

            """)
        let set2 = try scratch.write("set2.csv", """
            class,split,image
            car,train,img/c1.png
            car,train,img/c2.png
            car,test,img/c3.png
            dog,train,img/d1.jpg
            dog,train,img/d2.png
            dog,test,img/d3.png

            """)
        return (set1, set2)
    }

    func promptedFeatureCount() throws -> Int {
        try DatabaseQueue(path: db).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM prompted_image_feature")! }
    }

    @Test(arguments: ["maple", "maple+lamm"])
    func mapleTrainsFromImagesAndContinuesAcrossStages(method: String) throws {
        try initStore()
        let (set1, set2) = try mapleStages()
        let options = ["--method", method, "--prompt-depth", "2", "--epochs", "2", "--quiet", "--json"]
        let first = try run(["add-classes", set1, "--dataset", "things"] + options)
        #expect(first.status == 0, "\(first.stderr)")
        let firstJSON = try #require(try CLI.json(first) as? [String: Any])
        let snapshot1 = try #require((firstJSON["snapshot"] as? [String: Any])?["id"] as? Int)
        let second = try run(["add-classes", set2] + options)
        #expect(second.status == 0, "\(second.stderr)")
        let snapshot2 = try #require(((try CLI.json(second) as? [String: Any])?["snapshot"] as? [String: Any]))
        #expect(snapshot2["parent"] as? Int == snapshot1 && snapshot2["method"] as? String == method)
        let id2 = try #require(snapshot2["id"] as? Int)

        // The snapshot holds its prompt tensors by name; the next stage changed them.
        let show = try #require(try CLI.json(try run(["show", "--snapshot", "\(id2)", "--json"])) as? [String: Any])
        let tensors = try #require(show["prompt_tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["name"] as? String } == ["deep_text.1", "vision_proj.weight", "vision_proj.bias", "deep_proj.1.weight", "deep_proj.1.bias"])
        #expect((show["context_vectors"] as? [String: Any])?["token_count"] as? Int == 2)
        let diff = try #require(try CLI.json(try run(["diff", "\(snapshot1)", "\(id2)", "--json"])) as? [String: Any])
        let changes = try #require(diff["prompt_tensors"] as? [[String: Any]])
        #expect(changes.count == 5 && changes.allSatisfy { ($0["l2_change"] as? Double ?? 0) > 0 }, "\(changes)")

        // eval re-encodes the test images through the snapshot's prompted image tower, once.
        #expect(try promptedFeatureCount() == 0)
        let eval = try run(["eval", "--snapshot", "\(id2)", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let cached = try promptedFeatureCount()
        // Set1's and Set2's test images under snapshot 2's prompts, and Set1's under snapshot 1's
        // (the accuracy Set1 had when it was trained).
        #expect(cached == 4 + 2)
        let again = try run(["eval", "--snapshot", "\(id2)", "--json"])
        #expect(try promptedFeatureCount() == cached)
        let stages = try #require((try CLI.json(eval) as? [String: Any])?["stages"] as? [[String: Any]])
        let stagesAgain = try #require((try CLI.json(again) as? [String: Any])?["stages"] as? [[String: Any]])
        #expect(stages.map { $0["accuracy"] as? Double } == stagesAgain.map { $0["accuracy"] as? Double })
        #expect(stages.map { $0["stage"] as? String } == ["Set1", "Set2"])
        #expect(stages[0]["accuracy_when_trained"] as? Double != nil && stages[0]["baseline"] as? Double != nil, "\(stages)")

        // compare shows the method; export carries the prompt tensors.
        let compare = try #require(try CLI.json(try run(["compare", "--json"])) as? [String: Any])
        let methods = try #require((compare["datasets"] as? [[String: Any]])?.first?["methods"] as? [[String: Any]])
        #expect(methods.map { $0["method"] as? String } == [method])
        let out = scratch.path("maple.safetensors")
        let export = try #require(try CLI.json(try run(["export", "--snapshot", "\(id2)", "--out", out, "--json"])) as? [String: Any])
        #expect((export["prompt_tensors"] as? [[String: Any]])?.map { $0["tensor"] as? String }.contains("prompt.deep_text.1") == true)

        // classify takes the image files through the prompted tower; precomputed features cannot show them.
        let classify = try run(["classify", "--snapshot", "\(id2)", "--top", "2", scratch.path("img/a3.png"), "--json"])
        #expect(classify.status == 0, "\(classify.stderr)")
        let classified = try #require(try CLI.json(classify) as? [[String: Any]])
        let top = try #require(classified.first?["top"] as? [[String: Any]])
        #expect(classified.count == 1 && top.count == 2, "\(classified)")
        let probabilities = top.compactMap { $0["probability"] as? Double }
        #expect(probabilities.count == 2 && probabilities[0] >= probabilities[1] && probabilities.allSatisfy { $0 > 0 && $0 <= 1 }
                && probabilities.reduce(0, +) <= 1 + 1e-6, "\(top)")
        #expect(top.allSatisfy { ["apple", "boat", "car", "dog"].contains($0["class"] as? String ?? "") && ["Set1", "Set2"].contains($0["stage"] as? String ?? "") },
                "\(top)")
        try expectFailure(["classify", "--snapshot", "\(id2)", scratch.path("img/missing.png")], mentions: ["img/missing.png", "no such file"])
        try expectFailure(["classify", "--snapshot", "\(id2)", "--features", try features("rows.npy", rows: 2)],
                          mentions: ["snapshot \(id2)", method, "pass the image files instead"])
        #expect(try run(["verify"]).status == 0)
    }

    /// import-split trains both stages with MaPLe+LAMM, Set2 continuing Set1's prompts, in one write.
    @Test func importSplitTrainsMaPLeStages() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "a.png"), ("rgba_64x48.png", "b.png"), ("gray_37x61.png", "c.png"),
                        ("baseline_88x60.jpg", "d.jpg"), ("progressive_88x60.jpg", "e.jpg"), ("gray_64x48.jpg", "f.jpg")])
        let split = try scratch.write("split_zhou_Tiny.json", """
            {"train": [["a.png", 0, "apple"], ["b.png", 1, "boat"], ["c.png", 2, "car"], ["d.jpg", 0, "apple"]],
             "test": [["e.jpg", 0, "apple"], ["f.jpg", 1, "boat"], ["a.png", 2, "car"]]}
            """)
        try expectFailure(["import-split", split, "--images", scratch.path("img"), "--method", "maple+lamm", "--prompt-depth", "5"],
                          mentions: ["--prompt-depth 5"])
        let result = try run(["import-split", split, "--images", scratch.path("img"), "--method", "maple+lamm", "--prompt-depth", "2",
                              "--epochs", "1", "--quiet", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let stages = try #require(try CLI.json(result) as? [[String: Any]])
        let snapshots = stages.compactMap { $0["snapshot"] as? [String: Any] }
        #expect(snapshots.map { $0["method"] as? String } == ["maple+lamm", "maple+lamm"])
        #expect(snapshots.last?["parent"] as? Int == snapshots.first?["id"] as? Int)
        let eval = try run(["eval", "--snapshot", "\(snapshots.last?["id"] as? Int ?? 0)", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        // Both stages scored under the second snapshot's prompts, beside zero-shot CLIP, on their test rows.
        let evaluated = try #require((try CLI.json(eval) as? [String: Any])?["stages"] as? [[String: Any]])
        #expect(evaluated.map { $0["stage"] as? String } == ["Set1", "Set2"])
        #expect(evaluated.allSatisfy { (0...100).contains($0["accuracy"] as? Double ?? -1) && $0["baseline"] as? Double != nil }, "\(evaluated)")
        #expect(evaluated.map { $0["total"] as? Int } == [2, 1], "\(evaluated)")
        #expect(evaluated.allSatisfy { $0["correct"] as? Int ?? -1 <= $0["total"] as? Int ?? 0 })
        #expect(try run(["verify"]).status == 0)
    }

    @Test func mapleErrorsLeaveTheStoreAsItWas() throws {
        try initStore()
        let (set1, set2) = try mapleStages()
        // The towers have 2 blocks: depth 3 is refused before any training.
        try expectFailure(["add-classes", set1, "--method", "maple", "--prompt-depth", "3", "--epochs", "1"],
                          mentions: ["--prompt-depth 3", "1 to 2"])
        #expect(try run(["add-classes", set1, "--method", "maple", "--prompt-depth", "2", "--epochs", "1", "--quiet"]).status == 0)
        // The next stage must continue prompts of the same shape.
        try expectFailure(["add-classes", set2, "--method", "maple", "--prompt-depth", "1", "--epochs", "1"],
                          mentions: ["--prompt-depth 1", "--n-ctx 2 --prompt-depth 2"])
        try expectFailure(["add-classes", set2, "--method", "maple", "--prompt-depth", "2", "--n-ctx", "3", "--epochs", "1"],
                          mentions: ["--n-ctx 3", "--n-ctx 2 --prompt-depth 2"])
        // A test image changed after registration: eval names it and stores nothing.
        try Data(contentsOf: scratch.url.appendingPathComponent("img/b1.jpg")).write(to: scratch.url.appendingPathComponent("img/a3.png"))
        try expectFailure(["eval", "--snapshot", "1"], mentions: ["img/a3.png", "no longer holds the image registered", "snapshot 1"])
        #expect(try promptedFeatureCount() == 0)
    }
}
