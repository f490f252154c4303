import Foundation
import Testing

/// add-classes with training, and eval, through the built binary.
extension StoreCommandTests {
    @Test func addClassesTrainsAndEvalReportsDegradation() throws {
        try initStore()
        let (csv1, rows1) = try stageCSV("set1.csv", classes: ["dog", "cat", "bird"])
        let first = try run(["add-classes", csv1, "--features", try features("set1.npy", rows: rows1), "--dataset", "pets", "--epochs", "5", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        // --json prints no progress (warnings, such as ending below zero-shot CLIP, still go to stderr).
        #expect(!first.stderr.contains("epoch 1/") && !first.stderr.contains("on the stage's test rows:"), "--json prints no progress: \(first.stderr)")
        let (csv2, rows2) = try stageCSV("set2.csv", classes: ["fish", "frog"])
        let second = try run(["add-classes", csv2, "--features", try features("set2.npy", rows: rows2), "--epochs", "5"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("snapshot 2 (lamm, parent 1)"))
        #expect(second.stderr.contains("zero-shot CLIP") && second.stderr.contains("epoch 5/5"))

        let eval = try run(["eval", "--snapshot", "2", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let json = try #require(try CLI.json(eval) as? [String: Any])
        #expect(json["snapshot"] as? Int == 2 && json["dataset"] as? String == "pets")
        #expect(json["method"] as? String == "lamm" && json["protocol"] as? String == "task")
        #expect(json["average_accuracy"] is Double)
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.map { $0["stage"] as? String } == ["Set1", "Set2"])
        for key in ["accuracy", "baseline", "accuracy_when_trained", "degradation", "correct", "total"] {
            #expect(stages.allSatisfy { $0[key] != nil && !($0[key] is NSNull) }, "eval --json lacks \(key)")
        }
        #expect(stages[0]["degradation"] as? Double == 0 && stages[0]["total"] as? Int == 3)
        let plain = try run(["eval", "--snapshot", "1"])
        #expect(plain.stdout.contains("Set1") && plain.stdout.contains("degradation") && plain.stdout.contains("average accuracy"))

        let diff = try #require(try CLI.json(try run(["diff", "1", "2", "--json"])) as? [String: Any])
        #expect((diff["changed"] as? [[String: Any]])?.map { $0["class_name"] as? String } == ["fish", "frog"])
        #expect(try run(["verify"]).status == 0)
    }

    @Test func showPrintsTheConfigurationAndLossCurveAsText() throws {
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        #expect(try run(["add-classes", csv, "--features", try features("set1.npy", rows: rows), "--epochs", "3", "--lambda-kd", "0.25", "--quiet"]).status == 0)
        let json = try #require(try CLI.json(try run(["show", "--snapshot", "1", "--json"])) as? [String: Any])
        let curve = try #require(json["loss_curve"] as? [[String: Any]])
        #expect(curve.count == 3)

        let text = try run(["show", "--snapshot", "1"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        for expected in ["configuration:", "  method: lamm", "  training_protocol: task", "  lamm.epochs: 3", "  lamm.lambda_kd: 0.25",
                         "  loss_weights.kd: 0.25", "loss curve (3 epochs):"] {
            #expect(lines.contains(expected), "show lacks '\(expected)':\n\(text.stdout)")
        }
        // One row per epoch, counted from 1, with the stored total loss.
        for (k, epoch) in curve.enumerated() {
            let total = try #require((epoch["terms"] as? [String: Any])?["total"] as? Double)
            let row = lines.first { $0.hasPrefix("\(k + 1) ") }
            #expect(row?.contains(String(format: "%.4f", total)) == true, "epoch \(k + 1) row: \(row ?? "missing")")
        }
        #expect(text.stdout.contains("this snapshot"))
    }

    @Test func trainingAndEvaluationErrors() throws {
        try initStore()
        let missingTrain = try scratch.write("notrain.csv", "class,split\ndog,train\ncat,test\n")
        try expectFailure(["add-classes", missingTrain, "--features", try features("two.npy", rows: 2)],
                          mentions: ["notrain.csv", "'cat'", "no training rows"])
        try expectFailure(["add-classes", missingTrain, "--features", scratch.path("two.npy"), "--lambda-kd", "-1"], mentions: ["--lambda-kd"])
        try expectFailure(["add-classes", missingTrain, "--features", scratch.path("two.npy"), "--shots", "0"], mentions: ["--shots"])
        // MaPLe trains inside the image tower: a stage of image features alone is refused, naming the row.
        for method in ["maple", "maple+lamm"] {
            try expectFailure(["add-classes", missingTrain, "--features", scratch.path("two.npy"), "--method", method],
                              mentions: ["notrain.csv:2", "--method \(method)", "needs the images themselves", "not from --features"])
        }
        try expectFailure(["add-classes", missingTrain, "--features", scratch.path("two.npy"), "--method", "clip"],
                          mentions: ["'clip'", "--method", "- coop+lamm\n", "- maple\n", "- maple+lamm"])
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"], perClass: 3)
        let trained = try run(["add-classes", csv, "--features", try features("set1.npy", rows: rows), "--shots", "5", "--epochs", "2"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stderr.contains("warning: class 'dog' has 2 training rows, fewer than --shots 5; using all of them"))
        try expectFailure(["eval", "--snapshot", "9"], mentions: ["no snapshot 9"])
        try expectFailure(["eval", "--snapshot", "1", "--split", "val"], mentions: ["nothing to evaluate", "val"])
        try expectFailure(["eval", "--snapshot", "1", "--dataset", "default2"], mentions: ["no dataset named 'default2'"])
        let (other, otherRows) = try stageCSV("other.csv", classes: ["ox"], perClass: 2)
        #expect(try run(["add-classes", other, "--features", try features("other.npy", rows: otherRows), "--dataset", "farm", "--epochs", "1"]).status == 0)
        try expectFailure(["eval", "--snapshot", "1", "--dataset", "farm"], mentions: ["snapshot 1 belongs to dataset 'default'", "farm"])
        try expectFailure(["eval", "--snapshot", "1", "--split", "holdout"], mentions: ["--split"])
    }
}
