import CLIP
import Foundation
import Methods
import Testing
@testable import Training

@Suite struct TrainerTests {
    let model: TinyModel
    init() throws { model = try TinyModel() }

    /// Three trainable classes; `frozen` classes with fixed features (LAMM) or `bound` classes
    /// with fixed label vectors read through the trained context (CoOp).
    func task(frozen: Int = 1, bound: Int = 0) throws -> TrainingTask {
        let labels = try ["dog", "cat", "golden retriever"].map { try model.template.label(for: $0, tokenizer: model.tokenizer) }
        let clip = try model.clipFeatures(labels)
        let d = model.dimension, w = model.checkpoint.configuration.text.hiddenSize
        var random = SplitMix64(seed: 11)
        let frozenClasses = try (0..<frozen).map { i in
            LabelClass(label: try model.template.label(for: "old\(i)", tokenizer: model.tokenizer),
                       source: .feature(unitVectors(1, d, random: &random)), clipTextFeature: unitVectors(1, d, random: &random))
        }
        let boundClasses = try (0..<bound).map { i in
            LabelClass(label: try model.template.label(for: "kept\(i)", tokenizer: model.tokenizer),
                       source: .vectors((0..<(2 * w)).map { _ in 0.1 * random.nextGaussian() }),
                       clipTextFeature: unitVectors(1, d, random: &random))
        }
        let samples = 8
        let classes = frozen + bound + 3
        let trained = labels.enumerated().map { LabelClass(label: $1, source: .trained, clipTextFeature: Array(clip[($0 * d)..<(($0 + 1) * d)])) }
        return TrainingTask(classes: frozenClasses + boundClasses + trained, images: .features(unitVectors(samples, d, random: &random)),
                            labels: (0..<samples).map { $0 % classes }, shots: 4)
    }

    /// The whole hierarchical loss against central differences through the text tower, with
    /// respect to every trained entry (context and label vectors): step 1e-2 in Float, checked to
    /// 1e-3 of the largest gradient entry (measured worst: 2.6e-4; the Float forward limits the
    /// difference quotient to a few 1e-4).
    @Test(arguments: [(Method.lamm, LabelTokens.all), (.lamm, .first), (.coop, .all), (.coopLAMM, .all), (.coopLAMM, .first)])
    func wholeLossMatchesFiniteDifferences(method: Method, labelTokens: LabelTokens) throws {
        var configuration = LAMMConfiguration()
        configuration.labelTokens = labelTokens
        let trainer = model.trainer(configuration, method: method)
        let t = method.trainsContext ? try task(frozen: 0, bound: 1) : try task()
        var random = SplitMix64(seed: 5)
        let prompts = trainer.initialPrompts(random: &random)
        let reference = trainer.initialLabelValues(t.classes, random: &random)
        var theta = prompts.flattened + reference
        for i in theta.indices { theta[i] += 0.05 * random.nextGaussian() }
        let layout = trainer.layout(t.classes, prompts: prompts, reference: reference,
                                    weights: configuration.lossWeights(shots: t.shots, method: method))
        func loss(_ theta: [Float]) throws -> (LossTerms, [Float]) {
            try trainer.objective(theta, layout: layout, images: t.imageFeatures, labels: t.labels)
        }
        let (terms, gradient) = try loss(theta)
        #expect(terms.ce > 0)
        if method.usesHierarchicalLoss {
            #expect(terms.wc > 0 && terms.cos > 0 && terms.kd > 0)
        } else {
            #expect(terms.wc == 0 && terms.cos == 0 && terms.kd == 0)
        }
        // The context (CoOp) comes first in theta; LAMM's rows follow.
        #expect(prompts.contextRows == (method.trainsContext ? 4 : 0))
        let scale = gradient.map(abs).max()!
        var worst: (Float, Int) = (0, 0)
        for i in gradient.indices {
            var plus = theta, minus = theta
            plus[i] += 1e-2
            minus[i] -= 1e-2
            let numeric = (try loss(plus).0.total - loss(minus).0.total) / 2e-2
            let error = abs(numeric - gradient[i])
            if error > worst.0 { worst = (error, i) }
        }
        print("\(method.rawValue) \(labelTokens): worst |numeric - analytic| \(worst.0 / scale) of the largest entry, over all \(gradient.count) entries")
        #expect(worst.0 <= 1e-3 * scale, "worst |numeric - analytic| = \(worst.0) at entry \(worst.1) of \(gradient.count), scale \(scale)")
    }

    @Test func onlyTheFirstTokenIsTrainedWithLabelTokensFirst() throws {
        var configuration = LAMMConfiguration()
        configuration.labelTokens = .first
        configuration.epochs = 3
        let t = try task(frozen: 0)
        let result = try model.trainer(configuration).train(t)
        let w = model.checkpoint.configuration.text.hiddenSize
        let retriever = t.classes[2].label.tokenIDs
        #expect(retriever.count > 1)
        let vectors = result.labelVectors[2]
        #expect(vectors.count == retriever.count * w)
        #expect(Array(vectors[0..<w]) != model.checkpoint.tokenEmbedding(row: retriever[0]))
        for (k, id) in retriever.enumerated().dropFirst() {
            #expect(Array(vectors[(k * w)..<((k + 1) * w)]) == model.checkpoint.tokenEmbedding(row: id))
        }
    }

    @Test func theSameSeedReproducesARunBitForBit() throws {
        var configuration = LAMMConfiguration()
        configuration.epochs = 4
        configuration.batchSize = 3
        configuration.labelInitialisation = .random
        let a = try model.trainer(configuration).train(try task())
        let b = try model.trainer(configuration).train(try task())
        #expect(a.labelVectors == b.labelVectors)
        #expect(a.lossCurve == b.lossCurve)
        configuration.seed = 2
        let c = try model.trainer(configuration).train(try task())
        #expect(c.labelVectors != a.labelVectors)
        #expect(a.steps == 4 * (8 / 3))
    }

    @Test func trainingLowersTheLoss() throws {
        var configuration = LAMMConfiguration()
        configuration.epochs = 30
        configuration.learningRate = 0.05
        let result = try model.trainer(configuration).train(try task(frozen: 0))
        #expect(result.lossCurve.count == 30)
        #expect(result.lossCurve.last!.terms.ce < result.lossCurve[1].terms.ce)
    }

    /// Zero-shot CLIP has nothing to train: the trainer refuses it instead of running with no
    /// parameters.
    @Test(arguments: Method.allCases.filter { !Trainer.methods.contains($0) })
    func refusesMethodsItCannotTrain(method: Method) throws {
        #expect(throws: TrainingError.untrainableMethod(method)) { try model.trainer(method: method).train(try task()) }
    }

    @Test func promptLayout() throws {
        let label = try model.template.label(for: "golden retriever", tokenizer: model.tokenizer)
        let ids = model.template.tokenIDs(label: label.tokenIDs)
        #expect(ids.first == model.tokenizer.startOfText && ids.last == model.tokenizer.endOfText)
        #expect(ids == (try model.tokenizer.tokenize("a photo of a golden retriever.")))
        #expect(model.template.labelStart == 5)
        #expect(throws: PromptError.emptyLabel(className: "   ")) { try model.template.label(for: "   ", tokenizer: model.tokenizer) }
        let long = String(repeating: "dog ", count: 80)
        #expect(throws: PromptError.self) { try model.template.label(for: long, tokenizer: model.tokenizer) }
    }
}
