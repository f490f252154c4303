import CLIP
@testable import Continual
import Formats
import Foundation
import GRDB
import Store
import Testing
@testable import Training

let tinyModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/clip-tiny")

/// A file store bound to the tiny fixture model, and stage files written beside it.
final class Workspace {
    let directory: URL
    /// The store's file, or its PostgreSQL URL.
    let storePath: String
    let store: LabelStore
    let session: ContinualSession

    init(backend: Backend = .sqlite) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("continual-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        storePath = backend == .sqlite ? directory.appendingPathComponent("store.sqlite").path : try newPostgresDatabase()
        store = try LabelStore.open(path: storePath, access: .create)
        try store.bindModel(try ModelRecord.describing(checkpoint: tinyModel))
        session = try ContinualSession(store: store)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A session of its own on the same store, as another process would open it.
    func anotherSession() throws -> ContinualSession {
        try ContinualSession(store: try LabelStore.open(path: storePath, access: .write))
    }

    /// A stage whose image features cluster around one random centre per class.
    func stage(_ name: String, classes: [String], train: Int = 6, test: Int = 4, seed: UInt64 = 1,
               omitTrainFor: Set<String> = []) throws -> AddStageRequest {
        var random = SplitMix64(seed: seed)
        var csv = "class,split\n"
        var values: [Float] = []
        for c in classes {
            let centre = (0..<24).map { _ in random.nextGaussian() }
            for k in 0..<(train + test) where k >= train || !omitTrainFor.contains(c) {
                csv += "\(c),\(k < train ? "train" : "test")\n"
                values += centre.map { $0 + 0.3 * random.nextGaussian() }
            }
        }
        let csvURL = directory.appendingPathComponent("\(name).csv"), npyURL = directory.appendingPathComponent("\(name).npy")
        try Data(csv.utf8).write(to: csvURL)
        try NPY.write(FloatMatrix(rows: values.count / 24, columns: 24, values: values), to: npyURL)
        var configuration = LAMMConfiguration()
        configuration.epochs = 10
        return AddStageRequest(csv: csvURL, csvName: "\(name).csv", features: npyURL, featuresName: "\(name).npy",
                               dataset: "pets", stage: nil, method: .lamm, configuration: configuration)
    }
}

@Suite struct ContinualTests {
    @Test func aNewStageLeavesEveryEarlierRowAndAccuracyUntouched() throws {
        let w = try Workspace()
        let first = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat", "bird"]))
        let before = try w.session.evaluator.evaluate(snapshot: first.snapshot.id)
        let set1Rows = try w.store.labelRows(snapshot: first.snapshot.id)
        let second = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2))
        #expect(second.snapshot.parent == first.snapshot.id)
        let after = try w.store.labelRows(snapshot: second.snapshot.id)
        #expect(after.count == 5)
        for (old, new) in zip(set1Rows, after.prefix(3)) {
            #expect(old.labelEmbeddingId == new.labelEmbeddingId)
            #expect(FloatBlob.encode(old.vectors.values) == FloatBlob.encode(new.vectors.values))
        }
        let evaluation = try w.session.evaluator.evaluate(snapshot: second.snapshot.id)
        #expect(evaluation.stages.map(\.stage) == ["Set1", "Set2"])
        let set1 = evaluation.stages[0]
        #expect(set1.accuracy == before.stages[0].accuracy && set1.correct == before.stages[0].correct)
        #expect(set1.degradation == 0 && set1.trainedBy == first.snapshot.id)
        #expect(evaluation.stages[1].degradation == 0 && evaluation.stages[1].trainedBy == second.snapshot.id)
        let diff = try w.store.diff(first.snapshot.id, second.snapshot.id)
        #expect(diff.changed.map(\.className) == ["fish", "frog"] && diff.unchanged == 3)
        #expect(try w.store.verify().ok)
        // The average is sample-weighted over the stages.
        let total = evaluation.stages.map(\.total).reduce(0, +)
        #expect(abs(evaluation.averageAccuracy - 100 * Double(evaluation.stages.map(\.correct).reduce(0, +)) / Double(total)) < 1e-9)
        // Evaluations are stored.
        #expect(try w.store.latestEvaluation(snapshot: second.snapshot.id, stage: after[0].stage.id!, split: .test, protocol: .task) != nil)
    }

    @Test func baselinesAreStoredAndZeroShotSnapshotsHoldCLIPsWords() throws {
        let w = try Workspace()
        var request = try w.stage("set1", classes: ["dog", "cat"])
        request.method = .zeroshot
        let result = try w.session.writer.addStage(request)
        #expect(result.baseline != nil && result.steps == 0)
        let rows = try w.store.labelRows(snapshot: result.snapshot.id)
        let dog = w.session.tokenizer.encode("dog")
        #expect(rows[0].vectors.values == dog.flatMap { w.session.checkpoint.tokenEmbedding(row: $0) })
        // Zero-shot CLIP through the path trained snapshots take: the stored rows (CLIP's word
        // embeddings as vectors) spliced into `a photo of a {}.`, against the baseline that was
        // computed from the prompts' token ids when the stage was added.
        let spliced = try w.session.features.promptFeatures(rows.map(\.vectors), context: nil)
        let fromTokenIDs = try promptFeaturesFromTokenIDs(["dog", "cat"], session: w.session)
        #expect(largestDifference(spliced, fromTokenIDs) <= 1e-5)
        let stage = try #require(rows[0].stage.id)
        let test = try w.store.samples(stage: stage, split: .test)
        let stored = try #require(try w.store.baseline(stage: stage, split: .test, protocol: .task))
        let dimension = w.session.checkpoint.configuration.projectionDim
        let predicted = predictions(test.features, texts: spliced, dimension: dimension)
        #expect(predicted == predictions(test.features, texts: fromTokenIDs, dimension: dimension))
        #expect(stored.total == test.count && stored.correct == correctCount(test, texts: spliced, dimension: dimension))
        let evaluation = try w.session.evaluator.evaluate(snapshot: result.snapshot.id)
        #expect(evaluation.stages[0].accuracy == stored.accuracy && evaluation.stages[0].baseline == stored.accuracy)
        // The same file with another method reuses the registered stage.
        let lamm = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        #expect(!lamm.newlyRegistered && lamm.registration.stage == "Set1" && lamm.snapshot.parent == nil)
    }

    /// A weight of 0 switches its term off: the gradient is CE's plus the other terms', each
    /// computed on its own, and a whole run equals one that never adds the term. The same term
    /// at its paper weight would change both, well beyond float noise.
    @Test(arguments: [(Float(0), Float(1), Float(0.05)), (0.25, 0, 0.05), (0.25, 1, 0), (0, 0, 0)])
    func eachLossTermCanBeSwitchedOff(wc: Float, cos: Float, kd: Float) throws {
        let w = try Workspace()
        var request = try w.stage("set1", classes: ["dog", "cat"])
        request.configuration.lambdaWC = wc
        request.configuration.lambdaCOS = cos
        request.configuration.lambdaKD = kd
        let result = try w.session.writer.addStage(request)
        let loss = try #require(result.finalLoss)
        #expect(abs(loss.total - (loss.ce + wc * loss.wc + cos * loss.cos + kd * loss.kd)) < 1e-4)
        let weights: [LossTerm: Float] = [.ce: 1, .wc: wc, .cos: cos, .kd: kd]
        let paper = LossWeights.paper(shots: 4)
        let paperWeights: [LossTerm: Float] = [.wc: paper.wc, .cos: paper.cos, .kd: paper.kd]
        let off = LossTerm.allCases.filter { weights[$0] == 0 }

        var configuration = request.configuration
        (configuration.epochs, configuration.batchSize, configuration.warmupEpochs, configuration.learningRate) = (4, 4, 0, 0.5)
        let probe = try LossTermProbe(session: w.session, configuration: configuration)

        // One step's gradient, away from the reference so that L_WC pulls too.
        var random = SplitMix64(seed: 5)
        var at = probe.initial
        for i in at.indices { at[i] += 0.05 * random.nextGaussian() }
        let images = probe.imageFeatures, labels = probe.task.labels
        let (terms, gradient) = try probe.objective(at, images: images, labels: labels,
                                                   weights: configuration.lossWeights(shots: probe.task.shots, method: .lamm))
        let parts = try probe.terms(at, images: images, labels: labels)
        let separately = try probe.gradient(at, images: images, labels: labels, weights: weights)
        let tolerance = 1e-5 * separately.map(abs).max()!
        #expect(largestDifference(gradient, separately) <= tolerance)
        let expectedTotal = LossTerm.allCases.map { weights[$0]! * parts[$0]!.value }.reduce(0, +)
        #expect(abs(terms.total - expectedTotal) <= 1e-5 * max(1, abs(expectedTotal)))
        for term in off {
            #expect(paperWeights[term]! * parts[term]!.gradient.map(abs).max()! > 100 * tolerance, "\(term) would not show in the gradient")
        }

        // A run with these weights equals a run that never computes the switched-off terms.
        let trained = try probe.trainer.train(probe.task).labelVectors.flatMap { $0 }
        let omitted = try probe.run { try probe.gradient($0, images: $1, labels: $2, weights: weights) }
        let noise = largestDifference(trained, omitted)
        // Float noise, relative to the vectors' size (up to about 6 here): the omitted run's CE
        // gradient is a difference of whole objectives, rounded differently, and four epochs at
        // lr 0.5 carry that rounding into the vectors.
        let scale = trained.map(abs).max()!
        print("wc \(wc) cos \(cos) kd \(kd): largest difference \(noise) on vectors up to \(scale)")
        #expect(noise <= 1e-5 * scale)
        for term in off {
            var on = weights
            on[term] = paperWeights[term]
            let switchedOn = try probe.run { try probe.gradient($0, images: $1, labels: $2, weights: on) }
            #expect(largestDifference(switchedOn, omitted) > max(100 * noise, 1e-5), "\(term) at its paper weight leaves the run as it was")
        }
    }

    @Test func classProtocolTrainsAgainstFrozenOldClasses() throws {
        let w = try Workspace()
        let first = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"]))
        var request = try w.stage("set2", classes: ["fish"], seed: 3)
        request.trainingProtocol = .class
        let second = try w.session.writer.addStage(request)
        #expect(second.snapshot.parent == first.snapshot.id)
        let byClass = try w.session.evaluator.evaluate(snapshot: second.snapshot.id, protocol: .class)
        let byTask = try w.session.evaluator.evaluate(snapshot: second.snapshot.id, protocol: .task)
        #expect(byClass.protocol == .class && byClass.stages.map(\.stage) == ["Set1", "Set2"])

        // Recomputed here: under the class protocol every class seen so far competes for every
        // test image, under the task protocol only the image's own stage's classes.
        let rows = try w.store.labelRows(snapshot: second.snapshot.id)
        #expect(rows.map(\.classRecord.name) == ["dog", "cat", "fish"])
        let d = w.session.checkpoint.configuration.projectionDim
        let texts = try w.session.features.promptFeatures(rows.map(\.vectors), context: nil)
        let clip = try promptFeaturesFromTokenIDs(rows.map(\.classRecord.name), session: w.session)
        var taskCorrect: [Int] = []
        for (k, stage) in [rows[0].stage, rows[2].stage].enumerated() {
            let test = try w.store.samples(stage: stage.id!, split: .test)
            let members = rows.indices.filter { rows[$0].stage.id == stage.id }
            let own = members.flatMap { texts[($0 * d)..<(($0 + 1) * d)] }
            let classCorrect = correctCount(test, texts: texts, offset: members[0], dimension: d)
            taskCorrect.append(correctCount(test, texts: own, dimension: d))
            let clipCorrect = correctCount(test, texts: clip, offset: members[0], dimension: d)
            #expect(byClass.stages[k].total == test.count && byTask.stages[k].total == test.count)
            #expect(byClass.stages[k].correct == classCorrect, "\(stage.name), class protocol")
            #expect(byTask.stages[k].correct == taskCorrect[k], "\(stage.name), task protocol")
            #expect(byClass.stages[k].accuracy == 100 * Double(classCorrect) / Double(test.count))
            #expect(byClass.stages[k].baseline == 100 * Double(clipCorrect) / Double(test.count), "\(stage.name), zero-shot over all classes")
        }
        // More classes to confuse an image with: never more correct, and here fewer.
        #expect(zip(byClass.stages, byTask.stages).allSatisfy { $0.correct <= $1.correct })
        #expect(zip(byClass.stages, byTask.stages).contains { $0.correct < $1.correct })
        // When Set1 was trained, its snapshot had seen Set1's classes alone: both protocols agree there.
        let whenTrained = try w.session.evaluator.evaluate(snapshot: first.snapshot.id, protocol: .class)
        #expect(whenTrained.stages.map(\.correct) == [taskCorrect[0]])
        #expect(byClass.stages[0].accuracyWhenTrained == whenTrained.stages[0].accuracy)
    }

    /// A context too long for the prompt (CoOp's takes the place of the prefix) is refused when
    /// the stage is planned, naming the class, and nothing is written.
    @Test func aContextTooLongForThePromptIsRefusedAndLeavesTheStoreAsItWas() throws {
        let w = try Workspace()
        let before = try w.store.contentDump()
        // 15 words and the longest context --n-ctx allows (64) do not fit 77 positions.
        let long = Array(repeating: "dog", count: 15).joined(separator: " ")
        var request = try w.stage("set1", classes: [long, "cat"])
        request.method = .coop
        let maximum = w.session.template.contextLength
        request.configuration.contextLength = 64
        do {
            _ = try w.session.writer.addStage(request)
            Issue.record("a prompt longer than \(maximum) positions was accepted")
        } catch let TrainingError.promptTooLong(className, tokens, limit, contextVectors) {
            #expect(className == long && tokens == 64 + 3 + 15 && limit == maximum && contextVectors == 64)
            let message = "\(TrainingError.promptTooLong(className: className, tokens: tokens, maximum: limit, contextVectors: contextVectors))"
            #expect(message.contains("dog"))
        }
        #expect(try w.store.contentDump() == before)
    }

    @Test func badInputIsRefusedAndLeavesTheStoreAsItWas() throws {
        let w = try Workspace()
        let before = try w.store.contentDump()
        #expect(throws: ContinualError.noTrainingRows(file: "set1.csv", classes: ["cat"])) {
            try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"], omitTrainFor: ["cat"]))
        }
        #expect(try w.store.contentDump() == before)
        // Set2 of a method that has no Set1 snapshot.
        var zero = try w.stage("set1", classes: ["dog", "cat"])
        zero.method = .zeroshot
        _ = try w.session.writer.addStage(zero)
        let withSet1 = try w.store.contentDump()
        #expect(throws: ContinualError.missingEarlierStage(method: "lamm", dataset: "pets", stage: "Set2", missing: "Set1")) {
            try w.session.writer.addStage(try w.stage("set2", classes: ["fish"], seed: 2))
        }
        #expect(try w.store.contentDump() == withSet1)
        // More shots than rows: said, and all rows used.
        var many = try w.stage("set1", classes: ["dog", "cat"])
        many.configuration.shots = 10
        let result = try w.session.writer.addStage(many)
        #expect(result.warnings.count == 2 && result.warnings[0].contains("fewer than --shots 10"))
        // The stage file changed since it was registered.
        var changed = try w.stage("set1", classes: ["dog", "cow"])
        changed.stage = "Set1"
        #expect(throws: ContinualError.self) { try w.session.writer.addStage(changed) }
        // Unknown snapshot.
        #expect(throws: StoreError.unknownSnapshot(id: 99, latest: result.snapshot.id)) { try w.session.evaluator.evaluate(snapshot: 99) }
        // Nothing to evaluate.
        #expect(throws: ContinualError.nothingToEvaluate(snapshot: result.snapshot.id, split: "val", stages: ["Set1"])) {
            try w.session.evaluator.evaluate(snapshot: result.snapshot.id, split: .val)
        }
    }

    @Test func aMovedOrDifferentModelIsRefused() throws {
        let w = try Workspace()
        let other = tinyModel.deletingLastPathComponent().appendingPathComponent("clip-tiny-f16")
        #expect(throws: StoreError.self) { try ContinualSession(store: w.store, modelDirectory: other) }
        #expect(throws: ContinualError.modelDirectoryMissing(directory: "/nonexistent/model")) {
            try ContinualSession(store: w.store, modelDirectory: URL(fileURLWithPath: "/nonexistent/model"))
        }
    }
}

/// The largest absolute difference between two equally long arrays.
func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// argmax_i of image . text_i for each image [N, D] over texts [C, D]: CLIP's prediction for
/// unit text features (the image's norm does not change the argmax).
func predictions(_ images: [Float], texts: [Float], dimension d: Int) -> [Int] {
    (0..<(images.count / d)).map { n in
        let scores = (0..<(texts.count / d)).map { c in (0..<d).map { images[n * d + $0] * texts[c * d + $0] }.reduce(0, +) }
        return scores.indices.max { scores[$0] < scores[$1] }!
    }
}

/// Test images of a stage whose class, shifted by `offset` into the label space, wins.
func correctCount(_ samples: StageSamples, texts: [Float], offset: Int = 0, dimension: Int) -> Int {
    zip(predictions(samples.features, texts: texts, dimension: dimension), samples.labels).filter { $0 == offset + $1 }.count
}

/// psi(y_i) of `a photo of a <name>.` computed from the prompts' token ids, L2-normalised.
func promptFeaturesFromTokenIDs(_ names: [String], session: ContinualSession) throws -> [Float] {
    let ids = try names.map { session.template.tokenIDs(label: try session.template.label(for: $0, tokenizer: session.tokenizer).tokenIDs) }
    return try session.tower.encode(tokenIDs: ids, normalized: true)
}

enum LossTerm: CaseIterable { case ce, wc, cos, kd }

/// A LAMM task of two classes on the session's model, and the hierarchical loss's terms taken
/// apart: each one's gradient on its own, and Trainer.train's loop around any gradient.
struct LossTermProbe {
    let trainer: Trainer
    let task: TrainingTask
    let clipFeatures: [Float]
    /// The trained values a run starts from (LAMM's label rows).
    let initial: [Float]
    let imageFeatures: [Float]
    let dimension: Int

    init(session: ContinualSession, configuration: LAMMConfiguration) throws {
        let labels = try ["dog", "cat"].map { try session.template.label(for: $0, tokenizer: session.tokenizer) }
        let d = session.checkpoint.configuration.projectionDim
        let clip = try promptFeaturesFromTokenIDs(labels.map(\.name), session: session)
        clipFeatures = clip
        var random = SplitMix64(seed: 21)
        var images = (0..<(8 * d)).map { _ in random.nextGaussian() }
        for n in 0..<8 {
            let norm = images[(n * d)..<((n + 1) * d)].map { $0 * $0 }.reduce(0, +).squareRoot()
            for k in 0..<d { images[n * d + k] /= norm }
        }
        task = TrainingTask(classes: labels.enumerated().map { LabelClass(label: $1, source: .trained, clipTextFeature: Array(clip[($0 * d)..<(($0 + 1) * d)])) },
                            images: .features(images), labels: (0..<8).map { $0 % 2 }, shots: 4)
        imageFeatures = images
        trainer = Trainer(checkpoint: session.checkpoint, text: session.tower, template: session.template, configuration: configuration)
        var seeded = SplitMix64(seed: configuration.seed)
        initial = trainer.initialLabelValues(task.classes, random: &seeded)
        dimension = d
    }

    func objective(_ parameters: [Float], images: [Float], labels: [Int], weights: LossWeights) throws -> (LossTerms, [Float]) {
        try trainer.objective(parameters, layout: trainer.layout(task.classes, prompts: .template, reference: initial, weights: weights),
                              images: images, labels: labels)
    }

    /// Each term's value and gradient at unit weight. The objective is affine in the weights, so
    /// a term is the change from raising its weight from 1 to 2 with every other weight at 1, and
    /// CE what is left: no term is taken from a path that a weight of 0 switches.
    func terms(_ parameters: [Float], images: [Float], labels: [Int]) throws -> [LossTerm: (value: Float, gradient: [Float])] {
        let t = trainer.configuration.temperature
        func at(wc: Float = 1, cos: Float = 1, kd: Float = 1) throws -> [Float] {
            try objective(parameters, images: images, labels: labels, weights: LossWeights(wc: wc, cos: cos, kd: kd, temperature: t)).1
        }
        let all = try objective(parameters, images: images, labels: labels, weights: LossWeights(wc: 1, cos: 1, kd: 1, temperature: t))
        let raised: [LossTerm: [Float]] = [.wc: try at(wc: 2), .cos: try at(cos: 2), .kd: try at(kd: 2)]
        var result: [LossTerm: (value: Float, gradient: [Float])] = [:]
        var ce = all.1
        for (term, value) in [(LossTerm.wc, all.0.wc), (.cos, all.0.cos), (.kd, all.0.kd)] {
            let gradient = zip(raised[term]!, all.1).map(-)
            result[term] = (value, gradient)
            for i in ce.indices { ce[i] -= gradient[i] }
        }
        result[.ce] = (all.0.ce, ce)
        return result
    }

    /// The sum of weight x term over the terms of non-zero weight; the others are left out.
    func gradient(_ parameters: [Float], images: [Float], labels: [Int], weights: [LossTerm: Float]) throws -> [Float] {
        let parts = try terms(parameters, images: images, labels: labels)
        var sum = [Float](repeating: 0, count: parameters.count)
        for term in LossTerm.allCases where weights[term]! != 0 {
            for i in sum.indices { sum[i] += weights[term]! * parts[term]!.gradient[i] }
        }
        return sum
    }

    /// Trainer.train's shuffling, batches, schedule and SGD steps around `gradient`; the trained values.
    func run(_ gradient: ([Float], [Float], [Int]) throws -> [Float]) throws -> [Float] {
        let configuration = trainer.configuration, d = dimension
        var random = SplitMix64(seed: configuration.seed)
        var parameters = trainer.initialLabelValues(task.classes, random: &random)
        var optimizer = SGD(momentum: configuration.momentum, weightDecay: configuration.weightDecay)
        var order = Array(task.labels.indices)
        let batch = min(configuration.batchSize, order.count)
        for epoch in 0..<configuration.epochs {
            order.shuffle(using: &random)
            for s in 0..<(order.count / batch) {
                let indices = order[(s * batch)..<((s + 1) * batch)]
                let step = try gradient(parameters, indices.flatMap { imageFeatures[($0 * d)..<(($0 + 1) * d)] }, indices.map { task.labels[$0] })
                optimizer.step(&parameters, gradient: step, learningRate: configuration.schedule.learningRate(epoch: epoch))
            }
        }
        return parameters
    }
}
