// A synthetic two-stage classification task made from a CLIP checkpoint, in which CLIP's own
// word for each class is not where its images are (LAMM.md, "The idea": llamas called alpacas).
//
// For class i the prompt is z_i = [SOT] a photo of a [label vectors of i] . [EOT] (LAMM.md,
// Notation). Its label vectors start as the token embeddings of the class name; the task moves
// them by a seeded random shift delta_i, and the class's true text feature is
// f_i = normalize(psi(z_i with the shifted vectors)). An image feature of class i is
// normalize(f_i + sigma g), g ~ N(0, I) in the projection space. CLIP's own prompt y_i
// (the unshifted name) then points somewhere near but not at its images, so zero-shot accuracy
// is mediocre, while label vectors trained towards the images (LAMM) can reach f_i again: the
// shifted prompts themselves, the oracle, classify the test images almost perfectly.
//
// The scales (defaults; Tests/DemoTests/DemoTaskTests.swift checks them):
//   - shift |delta| = |e| per label vector (e its token embedding, |e| ~ 2.4 in the demo
//     checkpoint), in a random direction. Through the frozen tower this moves a class's feature
//     to cosine 0.85-0.91 on average (0.4-0.74 for the class moved most) with CLIP's own y_i
//     feature: far enough that images of one class often lie nearer another class's name, near
//     enough that the name still carries information and the class-name embedding remains the
//     sensible start for training (LAMM.md, Table 5). Zero-shot CLIP then gets 45% (Set1) and
//     52% (Set2) of the test rows with the default seeds (checkpoint 1, task 1), 35-56% for
//     checkpoint and task seeds 1-3, against 10% chance.
//   - sigma = 0.08 per dimension (|sigma g| ~ 0.45 in 32 dimensions, so an image feature has
//     cosine ~0.91 with f_i): the closest true features within a stage are 0.18-0.34 apart
//     (0.29 with the default seeds), so the oracle still gets 99% and 100% with the default
//     seeds (93-100% for seeds 1-3) while training images scatter visibly.

import CLIP
import Evaluation
import Foundation
import Formats
import Kernels
import Training

/// Which part of a stage a sample belongs to (the CSV's `split` column).
public enum DemoSplit: String, Sendable, CaseIterable {
    case train
    case test
}

/// One stage of the task: its classes and its samples, one row each.
public struct DemoStage: Sendable, Equatable {
    /// "set1", "set2".
    public var name: String
    /// Indices into `DemoTask.classNames` of the stage's classes (its label space).
    public var classIndices: [Int]
    /// Class index (into `DemoTask.classNames`) of each sample.
    public var sampleClasses: [Int]
    public var sampleSplits: [DemoSplit]
    /// Image features [samples, projection], L2-normalised.
    public var features: FloatMatrix
}

/// The files `DemoTask.write(to:)` wrote for one stage.
public struct DemoStageFiles: Sendable, Equatable {
    public var stage: String
    public var classNames: [String]
    /// `class,split` rows, one per sample.
    public var csv: URL
    /// float32 [samples, projection], rows in the CSV's order; nil when the CSV names images.
    public var features: URL?
}

public struct DemoTask: Sendable {
    /// Twenty animals; Set1 is the first ten, Set2 the rest. A few names are two words, so
    /// some classes own two label vectors.
    public static let defaultClassNames = [
        "cat", "dog", "horse", "zebra", "giraffe", "elephant", "lion", "tiger", "polar bear", "kangaroo",
        "rabbit", "squirrel", "fox", "wolf", "deer", "camel", "penguin", "red panda", "sea lion", "hedgehog",
    ]
    /// The template CoOp and LAMM start from (LAMM.md, Training setup).
    public static let template = "a photo of a"
    public static let defaultSeed: UInt64 = 1
    public static let defaultShiftScale: Float = 1.0
    public static let defaultNoiseScale: Float = 0.08

    /// Words of every class's prompt `a photo of a <class> .`, to learn the demo's vocabulary
    /// from (DemoCheckpoint.write(to:words:size:seed:)): the template words come once per class,
    /// so they are merged first, as in a real corpus.
    public static func promptWords(classNames: [String] = defaultClassNames) -> [String] {
        classNames.flatMap { "\(template) \($0.lowercased()) .".split(whereSeparator: \.isWhitespace).map(String.init) }
    }

    public let classNames: [String]
    public let trainShots: Int
    public let testShots: Int
    public let shiftScale: Float
    public let noiseScale: Float
    public let seed: UInt64
    public let projectionDim: Int
    /// BPE ids of each class name: the rows its label vectors start from.
    public let labelTokenIDs: [[Int]]
    /// Each class's shifted label vectors [tokens, W], flattened.
    public let shiftedLabelVectors: [[Float]]
    /// Normalised features [K, projection] of CLIP's own prompts `a photo of a <class>.`.
    public let zeroShotTextFeatures: [Float]
    /// Normalised features [K, projection] of the prompts with the shifted label vectors: the
    /// f_i the images are drawn around.
    public let trueTextFeatures: [Float]
    /// Set1 (the first ceil(K/2) classes) and Set2 (the rest), LAMM.md's incremental setting.
    public let stages: [DemoStage]

    /// Loads the checkpoint and tokenizer of `checkpointDirectory` (as DemoCheckpoint writes it)
    /// and builds the task on them.
    public init(
        checkpointDirectory: URL, classNames: [String] = defaultClassNames, trainShots: Int = 16, testShots: Int = 25,
        shiftScale: Float = defaultShiftScale, noiseScale: Float = defaultNoiseScale, seed: UInt64 = defaultSeed
    ) throws {
        try self.init(
            checkpoint: CLIPCheckpoint(directory: checkpointDirectory), tokenizer: CLIPTokenizer(directory: checkpointDirectory),
            classNames: classNames, trainShots: trainShots, testShots: testShots, shiftScale: shiftScale,
            noiseScale: noiseScale, seed: seed)
    }

    public init(
        checkpoint: CLIPCheckpoint, tokenizer: CLIPTokenizer, classNames: [String] = defaultClassNames,
        trainShots: Int = 16, testShots: Int = 25, shiftScale: Float = defaultShiftScale,
        noiseScale: Float = defaultNoiseScale, seed: UInt64 = defaultSeed
    ) throws {
        guard classNames.count >= 4 else { throw DemoError.tooFewClasses(count: classNames.count) }
        var seen = Set<String>()
        for name in classNames where !seen.insert(name).inserted { throw DemoError.duplicateClassName(name) }
        guard trainShots > 0, testShots > 0 else { throw DemoError.invalidShots(train: trainShots, test: testShots) }
        guard tokenizer.vocabularySize <= checkpoint.configuration.text.vocabularySize else {
            throw DemoError.vocabularyMismatch(tokenizer: tokenizer.vocabularySize, checkpoint: checkpoint.configuration.text.vocabularySize)
        }
        let tower = TextTower(checkpoint)
        let width = checkpoint.configuration.text.hiddenSize
        let d = checkpoint.configuration.projectionDim
        var rng = SplitMix64(seed: seed)

        let labelTokenIDs = classNames.map { tokenizer.encode($0) }
        if let index = labelTokenIDs.firstIndex(where: \.isEmpty) { throw DemoError.classNameNotTokenized(classNames[index]) }
        let shiftedLabelVectors = labelTokenIDs.map { ids in
            ids.flatMap { id in
                let embedding = checkpoint.tokenEmbedding(row: id)
                let direction = normalized(gaussian(width, &rng), dimension: width)
                let length = shiftScale * l2Normalize(embedding, rows: 1, columns: width).norms[0]
                return zip(embedding, direction).map { $0 + length * $1 }
            }
        }

        let zeroShotTextFeatures = try tower.encode(
            tokenIDs: classNames.map { try tokenizer.tokenize("\(Self.template) \($0).") }, normalized: true)
        let trueTextFeatures = try tower.forward(
            Self.vectorPrompts(labelTokenCounts: labelTokenIDs.map(\.count), tokenizer: tokenizer),
            vectors: shiftedLabelVectors.flatMap { $0 }).normalizedFeatures

        let firstStageCount = (classNames.count + 1) / 2
        let stageClasses = [Array(0..<firstStageCount), Array(firstStageCount..<classNames.count)]
        var stages: [DemoStage] = []
        for (s, classIndices) in stageClasses.enumerated() {
            var stage = DemoStage(
                name: "set\(s + 1)", classIndices: classIndices, sampleClasses: [], sampleSplits: [],
                features: FloatMatrix(rows: 0, columns: d, values: []))
            for c in classIndices {
                let center = trueTextFeatures[(c * d)..<((c + 1) * d)]
                for split in [DemoSplit.train, .test] {
                    for _ in 0..<(split == .train ? trainShots : testShots) {
                        let noise = gaussian(d, &rng)
                        stage.features.values += normalized(zip(center, noise).map { $0 + noiseScale * $1 }, dimension: d)
                        stage.sampleClasses.append(c)
                        stage.sampleSplits.append(split)
                    }
                }
            }
            stage.features.rows = stage.sampleClasses.count
            stages.append(stage)
        }

        self.classNames = classNames
        self.trainShots = trainShots
        self.testShots = testShots
        self.shiftScale = shiftScale
        self.noiseScale = noiseScale
        self.seed = seed
        self.projectionDim = d
        self.labelTokenIDs = labelTokenIDs
        self.shiftedLabelVectors = shiftedLabelVectors
        self.zeroShotTextFeatures = zeroShotTextFeatures
        self.trueTextFeatures = trueTextFeatures
        self.stages = stages
    }

    /// The prompts `[SOT] a photo of a [vectors] . [EOT]`, class i's vectors numbered after
    /// those of classes 0..<i, as TextTower.forward(_:vectors:) takes them.
    public static func vectorPrompts(labelTokenCounts: [Int], tokenizer: CLIPTokenizer) -> [PromptRows] {
        let prompt = PromptTemplate(tokenizer: tokenizer, prefix: template)
        var next = 0
        return labelTokenCounts.map { count in
            defer { next += count }
            return prompt.prompt(vectorRows: count, firstVector: next)
        }
    }

    /// Per stage, accuracy on its test rows among its own classes (LAMM.md: each stage's label
    /// space is its own classes) of zero-shot CLIP (the class names' prompts) and of the oracle
    /// (the shifted prompts the images were drawn from).
    public func accuracies() -> (zeroShot: [Double], oracle: [Double]) {
        (stages.map { accuracy($0, textFeatures: zeroShotTextFeatures) },
         stages.map { accuracy($0, textFeatures: trueTextFeatures) })
    }

    private func accuracy(_ stage: DemoStage, textFeatures: [Float]) -> Double {
        let d = projectionDim
        let test = (0..<stage.features.rows).filter { stage.sampleSplits[$0] == .test }
        let result = Evaluation.accuracy(
            imageFeatures: test.flatMap { stage.features.row($0) },
            labels: test.map { stage.classIndices.firstIndex(of: stage.sampleClasses[$0])! },
            textFeatures: stage.classIndices.flatMap { textFeatures[($0 * d)..<(($0 + 1) * d)] }, dimension: d)
        return Double(result.correct) / Double(result.total)
    }

    /// Writes `<stage>.csv` (`class,split`, one row per sample) and `<stage>.npy` (the image
    /// features in the same order) per stage into `directory`, the input of `add-classes`.
    public func write(to directory: URL) throws -> [DemoStageFiles] {
        try stages.map { stage in
            let csv = directory.appendingPathComponent("\(stage.name).csv")
            let npy = directory.appendingPathComponent("\(stage.name).npy")
            var text = "class,split\n"
            for (c, split) in zip(stage.sampleClasses, stage.sampleSplits) {
                text += "\(csvField(classNames[c])),\(split.rawValue)\n"
            }
            try DemoFiles.write(Data(text.utf8), to: csv)
            try NPY.write(stage.features, to: npy)
            return DemoStageFiles(stage: stage.name, classNames: stage.classIndices.map { classNames[$0] }, csv: csv, features: npy)
        }
    }
}

/// A CSV field as RFC 4180 writes it (Formats' CSV reads it back): quoted, with quotes doubled,
/// when it holds a comma, a quote or a line break.
func csvField(_ value: String) -> String {
    guard value.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return value }
    return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

func gaussian(_ count: Int, _ rng: inout SplitMix64) -> [Float] {
    (0..<count).map { _ in rng.nextGaussian() }
}
