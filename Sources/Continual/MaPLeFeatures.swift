// Features of MaPLe and MaPLe+LAMM snapshots: their prompts act in both towers, so their text
// features come through the prompted text tower and their image features through the prompted
// image tower (cached in the store by image content and prompts). Training: StageTraining.swift.

import CLIP
import Evaluation
import Foundation
import Images
import Methods
import Store
import Training

extension SnapshotFeatures {
    /// The image at `path`, decoded, after checking that it is still the registered content.
    func registeredImage(path: String, sha256: String?, snapshot: Int64?) throws -> RGBImage {
        guard FileManager.default.fileExists(atPath: path) else { throw ContinualError.imageChanged(path: path, snapshot: snapshot) }
        let data = try ImageDecoder.contents(ofFile: path)
        if let sha256, FloatBlob.sha256(data) != sha256 { throw ContinualError.imageChanged(path: path, snapshot: snapshot) }
        return try ImageDecoder.decode(data, name: path)
    }

    /// A stored snapshot's MaPLe prompts, if it has them.
    func maplePrompts(ofSnapshot id: Int64) throws -> MaPLePrompts? {
        let record = try store.snapshotRecord(id)
        guard record.method.promptsBothTowers, let context = try context(ofSnapshot: id) else { return nil }
        let tensors = try store.promptTensors(snapshot: id)
        return try MaPLePrompts(context: context.vectors.values, tensors: tensors, textWidth: width,
                                visionWidth: try visionTower().configuration.vision.hiddenSize)
    }

    /// A stored snapshot's prompt parameters: its MaPLe prompts, its CoOp context, or the
    /// template's own words.
    func promptParameters(ofSnapshot id: Int64) throws -> PromptParameters {
        if let prompts = try maplePrompts(ofSnapshot: id) { return .maple(prompts) }
        if try store.snapshotRecord(id).method.trainsContext, let context = try context(ofSnapshot: id) {
            return .context(context.vectors.values, width: context.vectors.width)
        }
        return .template
    }

    /// L2-normalised text features [C, D] of classes under a snapshot's MaPLe prompts: CLIP's
    /// class tokens, or (MaPLe+LAMM) the given label vectors.
    func mapleTextFeatures(_ classes: [(name: String, vectors: [Float]?)], prompts: MaPLePrompts, method: Method) throws -> [Float] {
        var configuration = LAMMConfiguration.defaults(for: method)
        configuration.contextLength = prompts.contextLength
        configuration.promptDepth = prompts.depth
        let labels = try classes.map { cls in
            LabelClass(label: try template.label(for: cls.name, tokenizer: tokenizer), source: cls.vectors.map { .vectors($0) } ?? .words)
        }
        return try trainer(configuration, method: method).textFeatures(labels, prompts: .maple(prompts))
    }

    /// L2-normalised text features [C, D] of a snapshot's rows as the snapshot sees them: under its
    /// MaPLe prompts, or (cached in the store) with its context vectors, if any.
    func snapshotTextFeatures(_ rows: [SnapshotClassRow], snapshot id: Int64) throws -> [Float] {
        guard let prompts = try maplePrompts(ofSnapshot: id) else { return try textFeatures(rows, context: try context(ofSnapshot: id)) }
        let method = try store.snapshotRecord(id).method
        return try mapleTextFeatures(mapleClasses(rows, method: method), prompts: prompts, method: method)
    }

    /// A MaPLe snapshot's rows as `mapleTextFeatures` takes them.
    func mapleClasses(_ rows: [SnapshotClassRow], method: Method) -> [(name: String, vectors: [Float]?)] {
        rows.map { ($0.classRecord.name, method.trainsLabels ? $0.vectors.values : nil) }
    }

    /// L2-normalised features [N, D] of registered images through a snapshot's prompted image
    /// tower (centre crop), cached in the store by image content and the snapshot's prompts.
    func mapleImageFeatures(_ images: [SampleImage], prompts: MaPLePrompts, snapshot: Int64) throws -> [Float] {
        let cache = store.promptedImageFeatureCache(promptSHA256: try store.promptSHA256(snapshot: snapshot))
        let pathOf = Dictionary(images.map { ($0.sha256, $0.path) }, uniquingKeysWith: { a, _ in a })
        let d = dimension
        let cached = try cache.features(Set(images.map(\.sha256)).sorted()) { missing in
            let out = try promptedImageFeatures(count: missing.count, prompts: prompts) {
                try registeredImage(path: pathOf[missing[$0]]!, sha256: missing[$0], snapshot: snapshot)
            }
            return Dictionary(uniqueKeysWithValues: missing.enumerated().map { ($1, Array(out[($0 * d)..<(($0 + 1) * d)])) })
        }
        return normalized(images.flatMap { cached.features[$0.sha256]! }, dimension: d)
    }
}

extension SnapshotFeatures {
    /// Unnormalised features [count, D] of images through MaPLe's prompted image tower (centre
    /// crop), decoded 16 at a time so that a large set's pixels are never in memory at once.
    func promptedImageFeatures(count: Int, prompts: MaPLePrompts, image: (Int) throws -> RGBImage) throws -> [Float] {
        let vision = try visionTower()
        let preprocessing = CLIPPreprocessing(imageSize: vision.imageSize)
        let visionPrompts = prompts.visionPrompts
        var features: [Float] = []
        for start in stride(from: 0, to: count, by: 16) {
            let batch = start..<min(start + 16, count)
            let pixels = try batch.flatMap { preprocessing.pixels(try image($0)) }
            features += try vision.encode(pixels: pixels, count: batch.count, prompts: visionPrompts)
        }
        return features
    }

    /// Image features [N, D] of a stage's split as a snapshot sees them: the stored CLIP features,
    /// or for MaPLe the images through its prompted image tower.
    func snapshotImageFeatures(_ samples: StageSamples, split: Split, prompts: MaPLePrompts?, snapshot: Int64) throws -> [Float] {
        guard let prompts else { return normalized(samples.features, dimension: dimension) }
        let images = try store.sampleImages(stage: samples.stage.id!, split: split)
        let method = try store.snapshotRecord(snapshot).method
        let present = try images.map { image -> SampleImage in
            guard let image else {
                throw ContinualError.imagesNeeded(method: method.rawValue, file: samples.stage.sourceFile ?? samples.stage.name, line: 0)
            }
            return image
        }
        return try mapleImageFeatures(present, prompts: prompts, snapshot: snapshot)
    }
}
