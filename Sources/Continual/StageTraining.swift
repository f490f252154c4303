// How a planned stage becomes a training run: the label space (the parent's classes first under
// `--protocol class`), the stage's training images, and the parent's prompt parameters to
// continue, for whichever method the stage trains.

import CLIP
import Evaluation
import Formats
import Foundation
import Images
import Methods
import Store
import Training

extension StageWriter {
    /// MaPLe trains inside the image tower: every row of the stage must name its image.
    func requireImages(_ data: StageData, method: Method) throws {
        guard method.promptsBothTowers else { return }
        if let sample = data.samples.first(where: { $0.imagePath == nil }) {
            let className = data.classes[sample.classIndex]
            throw ContinualError.imagesNeeded(method: method.rawValue, file: data.sourceFile, line: data.firstLine[className] ?? 0)
        }
    }

    /// Trains a planned stage's new classes from its parent.
    func trainStage(_ plan: StagePlan, parent: ParentSnapshot, clipFeatures: [Float],
                    progress: ((AddStageEvent) -> Void)?) throws -> TrainingResult {
        let request = plan.request, method = request.method, d = dimension
        let earlier = request.trainingProtocol == .class ? try earlierClasses(parent, method: method) : []
        let classes = earlier + plan.labels.enumerated().map { c, label in
            LabelClass(label: label, source: .trained,
                       clipTextFeature: method.promptsBothTowers ? nil : Array(clipFeatures[(c * d)..<((c + 1) * d)]))
        }
        let (chosen, images) = try trainingImages(plan)
        let task = TrainingTask(classes: classes, prompts: parent.promptParameters(for: method), images: images,
                                labels: chosen.map { earlier.count + plan.data.samples[$0].classIndex }, shots: plan.shots)
        return try features.trainer(request.configuration, method: method).train(task) { progress?(.training($0)) }
    }

    /// The parent's classes as the label space keeps them: under LAMM their trained features
    /// (the fixed template); under MaPLe CLIP's words in its moving prompts; under CoOp,
    /// CoOp+LAMM and MaPLe+LAMM their stored label vectors in the moving prompts.
    func earlierClasses(_ parent: ParentSnapshot, method: Method) throws -> [LabelClass] {
        let rows = parent.rows
        guard !rows.isEmpty else { return [] }
        let d = dimension
        let clip = method.promptsBothTowers ? [] : try features.clipTextFeatures(rows.map(\.name))
        let old = method.promptsBothTowers || method.trainsContext ? [] : try textFeatures(of: parent)
        return try rows.indices.map { i in
            let source: LabelSource = if !method.promptsBothTowers && !method.trainsContext {
                .feature(Array(old[(i * d)..<((i + 1) * d)]))
            } else if method.promptsBothTowers && !method.trainsLabels {
                .words
            } else {
                .vectors(rows[i].vectors.values)
            }
            return LabelClass(label: try template.label(for: rows[i].name, tokenizer: tokenizer), source: source,
                              clipTextFeature: clip.isEmpty ? nil : Array(clip[(i * d)..<((i + 1) * d)]))
        }
    }

    /// The stage's training rows and what the trainer sees of them: their stored CLIP features, or
    /// (methods that prompt the image tower) each image once, a fresh augmented view per epoch.
    func trainingImages(_ plan: StagePlan) throws -> (rows: [Int], images: TrainingImages) {
        let data = plan.data
        let chosen = plan.trainingRows.flatMap { $0 }.sorted()
        guard plan.request.method.promptsBothTowers else {
            return (chosen, .features(normalized(chosen.flatMap { data.samples[$0].feature }, dimension: dimension)))
        }
        // One row per training image (augmented views of one image are the same image here).
        var seen = Set<String>()
        let images = chosen.filter { seen.insert(data.samples[$0].imagePath!).inserted }
        let decoded = try images.map { try features.registeredImage(path: data.samples[$0].imagePath!, sha256: data.samples[$0].imageSha256, snapshot: nil) }
        let preprocessing = CLIPPreprocessing(imageSize: try features.visionTower().imageSize)
        let seed = plan.request.configuration.seed
        return (images, .pixels { sample, epoch in
            // Each (epoch, image) draws from its own generator: a view does not depend on batch order.
            var random = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(sample) &* 0xBF58_476D_1CE4_E5B9)
            return preprocessing.augmentedPixels(decoded[sample], random: &random)
        })
    }
}

extension ParentSnapshot {
    /// The prompt parameters a stage of `method` continues: the parent's MaPLe prompts or CoOp context.
    func promptParameters(for method: Method) -> PromptParameters? {
        if method.promptsBothTowers { return prompts.map { .maple($0) } }
        if method.trainsContext { return context.map { .context($0.values, width: $0.width) } }
        return nil
    }
}
