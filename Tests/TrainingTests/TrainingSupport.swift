import CLIP
import Foundation
import Methods
@testable import Training

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let tiny = root.appendingPathComponent("clip-tiny")
}

/// The tiny fixture model with its tokenizer, tower and template.
struct TinyModel {
    let checkpoint: CLIPCheckpoint
    let tokenizer: CLIPTokenizer
    let tower: TextTower
    let template: PromptTemplate

    init() throws {
        checkpoint = try CLIPCheckpoint(directory: Fixtures.tiny)
        tokenizer = try CLIPTokenizer(directory: Fixtures.tiny)
        tower = TextTower(checkpoint)
        template = PromptTemplate(tokenizer: tokenizer)
    }

    var dimension: Int { checkpoint.configuration.projectionDim }

    func trainer(_ configuration: LAMMConfiguration = .init(), method: Method = .lamm) -> Trainer {
        Trainer(checkpoint: checkpoint, text: tower, template: template, configuration: configuration, method: method)
    }

    func clipFeatures(_ labels: [ClassLabel]) throws -> [Float] {
        try tower.encode(tokenIDs: labels.map { template.tokenIDs(label: $0.tokenIDs) }, normalized: true)
    }
}

func unitVectors(_ count: Int, _ dimension: Int, random: inout SplitMix64) -> [Float] {
    var values = (0..<(count * dimension)).map { _ in random.nextGaussian() }
    for r in 0..<count {
        let norm = (0..<dimension).map { values[r * dimension + $0] * values[r * dimension + $0] }.reduce(0, +).squareRoot()
        for k in 0..<dimension { values[r * dimension + k] /= norm }
    }
    return values
}

extension TrainingTask {
    /// The task's image features (tasks of methods that leave the image tower alone).
    var imageFeatures: [Float] {
        guard case let .features(features) = images else { preconditionFailure("the task trains on pixels") }
        return features
    }
}
