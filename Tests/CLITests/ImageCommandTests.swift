import Foundation
import Testing

/// Stages from image files: add-classes without --features, import-split, encode-images.
extension StoreCommandTests {
    static let images = CLI.fixtures.appendingPathComponent("images")

    /// Copies fixture images into the scratch folder under new names.
    func copyImages(_ names: [(fixture: String, as: String)]) throws {
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("img"), withIntermediateDirectories: true)
        for (fixture, name) in names {
            try FileManager.default.copyItem(at: Self.images.appendingPathComponent(fixture),
                                            to: scratch.url.appendingPathComponent("img/\(name)"))
        }
    }

    @Test func addClassesEncodesImagesAndReusesThemLater() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "a1.png"), ("rgba_64x48.png", "a2.png"), ("gray_37x61.png", "a3.png"),
                        ("baseline_88x60.jpg", "b1.jpg"), ("progressive_88x60.jpg", "b2.jpg"), ("gray_64x48.jpg", "b3.jpg"),
                        ("palette_37x61.png", "c1.png"), ("pixel_1x1.png", "c2.png")])
        let set1 = try scratch.write("set1.csv", """
            class,split,image
            apple,train,img/a1.png
            apple,train,img/a2.png
            apple,test,img/a3.png
            boat,train,img/b1.jpg
            boat,train,img/b2.jpg
            boat,test,img/b3.jpg

            """)
        let first = try run(["add-classes", set1, "--dataset", "things", "--epochs", "2", "--views", "2", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let json = try #require(try CLI.json(first) as? [String: Any])
        // Two augmented views of each of the 4 training images, the centre crop of the 2 test images.
        #expect(json["encoded_images"] as? Int == 10 && json["reused_image_features"] as? Int == 0)
        #expect((json["registration"] as? [String: Any])?["train"] as? Int == 8)
        // A later stage naming an image already encoded reuses its feature.
        let set2 = try scratch.write("set2.csv", "class,split,image\ncar,train,img/c1.png\ncar,test,img/a3.png\ncar,test,img/c2.png\n")
        let second = try run(["add-classes", set2, "--epochs", "2", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let reuse = try #require(try CLI.json(second) as? [String: Any])
        #expect(reuse["reused_image_features"] as? Int == 1 && reuse["encoded_images"] as? Int == 2)
        #expect(try run(["verify"]).status == 0)
    }

    @Test func badImagesAreNamedOrSkipped() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "ok.png"), ("truncated.jpg", "cut.jpg"), ("text.png", "text.png"), ("empty.png", "empty.png"),
                        ("huge_20000x20000.png", "huge.png"), ("gray_64x48.jpg", "ok2.jpg")])
        for bad in ["cut.jpg", "text.png", "empty.png", "huge.png", "missing.png"] {
            let csv = try scratch.write("bad.csv", "class,split,image\nok,train,img/ok.png\nok,test,img/\(bad)\n")
            try expectFailure(["add-classes", csv, "--epochs", "1"], mentions: [bad])
        }
        let csv = try scratch.write("skip.csv", "class,split,image\nok,train,img/ok.png\nok,train,img/cut.jpg\nok,test,img/ok2.jpg\nok,test,img/text.png\n")
        let skipped = try run(["add-classes", csv, "--epochs", "1", "--skip-bad-images", "--json"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("skipped") && skipped.stderr.contains("cut.jpg") && skipped.stderr.contains("text.png"))
        let json = try #require(try CLI.json(skipped) as? [String: Any])
        #expect((json["skipped_images"] as? [String])?.count == 2)
        #expect((json["registration"] as? [String: Any])?["train"] as? Int == 1)
    }

    /// Two files of the same content that fails to decode are both skipped, each named, and the
    /// stage keeps only the good rows.
    @Test func badImagesOfOneContentAreAllSkipped() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "ok.png"), ("truncated.jpg", "cut.jpg"), ("truncated.jpg", "cut-copy.jpg"), ("gray_64x48.jpg", "ok2.jpg")])
        let csv = try scratch.write("twins.csv", "class,split,image\nok,train,img/ok.png\nok,train,img/cut.jpg\nok,train,img/cut-copy.jpg\nok,test,img/ok2.jpg\n")
        let skipped = try run(["add-classes", csv, "--epochs", "1", "--skip-bad-images", "--json"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let json = try #require(try CLI.json(skipped) as? [String: Any])
        #expect((json["registration"] as? [String: Any])?["train"] as? Int == 1)
        #expect(try run(["verify"]).status == 0)
    }

    @Test func importSplitRegistersBaseAndNewStages() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "a.png"), ("rgba_64x48.png", "b.png"), ("gray_37x61.png", "c.png"),
                        ("baseline_88x60.jpg", "d.jpg"), ("progressive_88x60.jpg", "e.jpg"), ("gray_64x48.jpg", "f.jpg")])
        let split = try scratch.write("split_zhou_Tiny.json", """
            {"train": [["a.png", 0, "apple"], ["b.png", 1, "boat"], ["c.png", 2, "car"], ["d.jpg", 0, "apple"]],
             "val": [["e.jpg", 2, "car"]],
             "test": [["e.jpg", 0, "apple"], ["f.jpg", 1, "boat"], ["a.png", 2, "car"]]}
            """)
        let result = try run(["import-split", split, "--images", scratch.path("img"), "--epochs", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let stages = try #require(try CLI.json(result) as? [[String: Any]])
        let registrations = stages.compactMap { $0["registration"] as? [String: Any] }
        #expect(registrations.map { $0["stage"] as? String } == ["Set1", "Set2"])
        #expect(registrations.map { $0["dataset"] as? String } == ["Tiny", "Tiny"])
        #expect(registrations.map { $0["classes"] as? Int } == [2, 1])   // ceil(3/2) = 2 base classes
        let eval = try #require(try CLI.json(try run(["eval", "--snapshot", "2", "--json"])) as? [String: Any])
        #expect((eval["stages"] as? [[String: Any]])?.first?["degradation"] as? Double == 0)

        let mismatch = try scratch.write("bad_split.json", #"{"train": [["a.png", 0, "apple"]], "test": [["b.png", 0, "boat"]]}"#)
        try expectFailure(["import-split", mismatch, "--images", scratch.path("img")], mentions: ["bad_split.json", "test[0]", "'boat'", "'apple'"])
        try expectFailure(["import-split", split, "--images", scratch.path("nowhere")], mentions: ["--images"])
    }

    /// All or nothing: a Set2 class without training rows is found before anything is trained
    /// or written, so Set1 (valid on its own) is not left behind in the store.
    @Test func importSplitWritesNothingWhenSet2IsBad() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "a.png"), ("rgba_64x48.png", "b.png"), ("gray_37x61.png", "c.png"),
                        ("baseline_88x60.jpg", "d.jpg"), ("gray_64x48.jpg", "f.jpg")])
        // Labels 0, 1 form Set1 (both trainable); "car" and "dove" form Set2 and "dove" has no train row.
        let split = try scratch.write("split_zhou_Lopsided.json", """
            {"train": [["a.png", 0, "apple"], ["b.png", 1, "boat"], ["c.png", 2, "car"]],
             "test": [["d.jpg", 0, "apple"], ["f.jpg", 1, "boat"], ["a.png", 2, "car"], ["b.png", 3, "dove"]]}
            """)
        try expectFailure(["import-split", split, "--images", scratch.path("img"), "--epochs", "1"],
                          mentions: ["split_zhou_Lopsided.json", "'dove'", "no training rows"])
        #expect(try run(["snapshots", "--json"]).stdout.contains("Lopsided") == false)
        // The same split without the bad class goes in whole.
        let good = try scratch.write("split_zhou_Lopsided2.json", """
            {"train": [["a.png", 0, "apple"], ["b.png", 1, "boat"], ["c.png", 2, "car"]],
             "test": [["d.jpg", 0, "apple"], ["f.jpg", 1, "boat"], ["a.png", 2, "car"]]}
            """)
        let result = try run(["import-split", good, "--images", scratch.path("img"), "--epochs", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try run(["verify"]).status == 0)
    }
}

@Suite struct EncodeImagesCommandTests {
    @Test func printsUnitFeaturesAndNamesBadFiles() throws {
        let model = CLI.fixtures.appendingPathComponent("clip-tiny").path
        let images = CLI.fixtures.appendingPathComponent("images")
        let files = ["rgb_64x48.png", "baseline_88x60.jpg"].map { images.appendingPathComponent($0).path }
        let result = try CLI.run(["encode-images", "--model", model, "--json"] + files)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try #require(try CLI.json(result) as? [[String: Any]])
        #expect(lines.map { $0["file"] as? String } == files)
        for line in lines {
            let feature = try #require(line["feature"] as? [Double])
            #expect(feature.count == 24)
            #expect(abs(feature.map { $0 * $0 }.reduce(0, +) - 1) < 1e-5)
        }
        let bad = try CLI.run(["encode-images", "--model", model, images.appendingPathComponent("text.png").path])
        #expect(bad.status != 0 && bad.stderr.contains("text.png") && bad.stderr.contains("neither JPEG nor PNG"))
    }
}
