import CLIP
import Demo
import Formats
import Foundation
import Testing

@Suite struct DemoTaskTests {
    /// The ranges DemoTask.swift documents for the default seeds: zero-shot CLIP clearly
    /// mediocre (10% is chance with 10 classes a stage), the shifted prompts near perfect.
    @Test(arguments: [DemoTask.defaultSeed, 2, 3])
    func zeroShotIsMediocreAndTheOracleIsNot(taskSeed: UInt64) throws {
        let directory = try DemoDirectory()
        let task = try DemoTask(checkpointDirectory: directory.url, seed: taskSeed)
        let (zeroShot, oracle) = task.accuracies()
        #expect(zeroShot.count == 2 && oracle.count == 2)
        for stage in 0..<2 {
            #expect((0.2...0.6).contains(zeroShot[stage]), "stage \(stage + 1): zero-shot \(zeroShot[stage])")
            #expect(oracle[stage] >= 0.9, "stage \(stage + 1): oracle \(oracle[stage])")
        }
    }

    /// Without a shift the images sit around CLIP's own prompts: zero-shot is the oracle.
    @Test func withoutAShiftZeroShotIsTheOracle() throws {
        let directory = try DemoDirectory()
        let task = try DemoTask(checkpointDirectory: directory.url, shiftScale: 0)
        let (zeroShot, oracle) = task.accuracies()
        #expect(zeroShot == oracle)
        #expect(zeroShot.allSatisfy { $0 >= 0.9 })
        for (a, b) in zip(task.zeroShotTextFeatures, task.trueTextFeatures) {
            #expect(abs(a - b) < 1e-5)
        }
    }

    @Test func stagesAndLabelVectorsHaveTheirShapes() throws {
        let directory = try DemoDirectory()
        let checkpoint = try CLIPCheckpoint(directory: directory.url)
        let tokenizer = try CLIPTokenizer(directory: directory.url)
        let task = try DemoTask(checkpoint: checkpoint, tokenizer: tokenizer)
        let names = DemoTask.defaultClassNames
        #expect(task.stages.map(\.name) == ["set1", "set2"])
        #expect(task.stages[0].classIndices == Array(0..<10) && task.stages[1].classIndices == Array(10..<20))
        for stage in task.stages {
            #expect(stage.features.rows == 10 * (16 + 25) && stage.features.columns == 32)
            #expect(stage.sampleSplits.filter { $0 == .train }.count == 10 * 16)
            for row in 0..<stage.features.rows {
                let norm = stage.features.row(row).reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(abs(norm - 1) < 1e-5)
            }
        }
        let width = checkpoint.configuration.text.hiddenSize
        for (c, ids) in task.labelTokenIDs.enumerated() {
            #expect(ids == tokenizer.encode(names[c]))
            let original = ids.flatMap { checkpoint.tokenEmbedding(row: $0) }
            let shifted = task.shiftedLabelVectors[c]
            #expect(shifted.count == ids.count * width)
            // Each label vector moved by shiftScale times its own length.
            for j in ids.indices {
                let e = original[(j * width)..<((j + 1) * width)], s = shifted[(j * width)..<((j + 1) * width)]
                let length = e.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let moved = zip(e, s).reduce(0) { $0 + ($1.1 - $1.0) * ($1.1 - $1.0) }.squareRoot()
                #expect(abs(moved - task.shiftScale * length) < 1e-3 * length)
            }
        }
        // The prompts with vectors read as CLIP's own prompts when the vectors are the names'
        // embeddings, so the true features differ from zero-shot's by the shift alone.
        let prompts = DemoTask.vectorPrompts(labelTokenCounts: task.labelTokenIDs.map(\.count), tokenizer: tokenizer)
        let tower = TextTower(checkpoint)
        let viaVectors = try tower.forward(
            prompts, vectors: task.labelTokenIDs.flatMap { $0.flatMap { checkpoint.tokenEmbedding(row: $0) } }).normalizedFeatures
        for (a, b) in zip(viaVectors, task.zeroShotTextFeatures) {
            #expect(abs(a - b) < 1e-5)
        }
    }

    @Test func writesReadableFilesInTheSameOrder() throws {
        let directory = try DemoDirectory()
        let task = try DemoTask(checkpointDirectory: directory.url)
        let output = directory.url.appendingPathComponent("task")
        let files = try task.write(to: output)
        #expect(files.map(\.stage) == ["set1", "set2"])
        #expect(files[0].classNames == Array(DemoTask.defaultClassNames.prefix(10)))
        for (stage, written) in zip(task.stages, files) {
            let table = try CSV.read(written.csv)
            #expect(table.header == ["class", "split"])
            #expect(table.records.map { $0.fields[0] } == stage.sampleClasses.map { task.classNames[$0] })
            #expect(table.records.map { $0.fields[1] } == stage.sampleSplits.map(\.rawValue))
            #expect(try NPY.read(try #require(written.features)) == stage.features)
        }
    }

    @Test func sameSeedSameFilesOtherSeedOtherFeatures() throws {
        let directory = try DemoDirectory()
        func write(seed: UInt64) throws -> [Data] {
            let output = directory.url.appendingPathComponent("task-\(UUID().uuidString)")
            return try DemoTask(checkpointDirectory: directory.url, seed: seed).write(to: output)
                .flatMap { [try Data(contentsOf: $0.csv), try Data(contentsOf: $0.features!)] }
        }
        let first = try write(seed: 9)
        #expect(first == (try write(seed: 9)))
        let other = try write(seed: 10)
        #expect(first[0] == other[0])  // the same CSV rows
        #expect(first[1] != other[1])  // other image features
    }

    @Test func quotesClassNamesThatNeedIt() throws {
        let directory = try DemoDirectory()
        let names = ["cat", "dog, small", "the \"fox\"", "wolf"]
        let task = try DemoTask(checkpointDirectory: directory.url, classNames: names, trainShots: 1, testShots: 1)
        let files = try task.write(to: directory.url.appendingPathComponent("quoted"))
        let classes = try files.flatMap { try CSV.read($0.csv).records.map { $0.fields[0] } }
        #expect(classes == ["cat", "cat", "dog, small", "dog, small", "the \"fox\"", "the \"fox\"", "wolf", "wolf"])
    }

    @Test func rejectsBadArguments() throws {
        let directory = try DemoDirectory()
        let url = directory.url
        #expect(throws: DemoError.tooFewClasses(count: 3)) { try DemoTask(checkpointDirectory: url, classNames: ["a", "b", "c"]) }
        #expect(throws: DemoError.duplicateClassName("cat")) {
            try DemoTask(checkpointDirectory: url, classNames: ["cat", "dog", "cat", "fox"])
        }
        #expect(throws: DemoError.invalidShots(train: 0, test: 25)) { try DemoTask(checkpointDirectory: url, trainShots: 0) }
        #expect(throws: DemoError.classNameNotTokenized("   ")) {
            try DemoTask(checkpointDirectory: url, classNames: ["cat", "dog", "   ", "fox"])
        }
        // A tokenizer with more tokens than the checkpoint has embedding rows.
        let small = try DemoDirectory()
        try DemoCheckpoint.write(to: small.url, words: ["cat"], seed: 1)
        let checkpoint = try CLIPCheckpoint(directory: small.url)
        let tokenizer = try CLIPTokenizer(directory: url)
        #expect(throws: DemoError.vocabularyMismatch(
            tokenizer: tokenizer.vocabularySize, checkpoint: checkpoint.configuration.text.vocabularySize)) {
            try DemoTask(checkpoint: checkpoint, tokenizer: tokenizer)
        }
    }
}
