// Cross-dataset evaluation (LAMM.md, Table 1: label rows trained on ImageNet, tested on
// ImageNet-V2 and ImageNet-Sketch): a snapshot's classes are matched by name to another dataset's,
// and each of its stages is scored among its matched classes. The classes with no match are
// reported with their rows left out, not dropped unsaid.

import Evaluation
import Formats
import Foundation
import Methods
import Store

public struct CrossEvaluation: Codable, Sendable, Equatable {
    public struct Stage: Codable, Sendable, Equatable, EncodesNilAsNull {
        public var stage: String
        /// Accuracy (%) among the matched classes; nil when their rows have none in the split.
        public var accuracy: Double?
        /// Zero-shot CLIP on the same rows and label space.
        public var baseline: Double?
        public var correct: Int
        public var total: Int
        public var matchedClasses: Int
        /// The stage's classes the snapshot has no class of the same name for.
        public var unmatchedClasses: [String]
    }

    public var snapshot: Int64
    public var dataset: String
    public var method: Method
    /// The dataset evaluated on.
    public var on: String
    public var split: Split
    public var stages: [Stage]
    /// Whether the results were stored (not when another process holds the write lock).
    public var stored = true
}

extension SnapshotEvaluator {
    /// `DATASET` or `DATASET:STAGE` as `eval --on` takes it: a name that is a dataset of the store
    /// is that dataset whole, even if it holds a colon.
    public func crossTarget(_ text: String) throws -> (dataset: String, stage: String?) {
        let known = try store.datasetNames()
        if known.contains(text) { return (text, nil) }
        if let colon = text.lastIndex(of: ":") {
            let dataset = String(text[..<colon]), stage = String(text[text.index(after: colon)...])
            if known.contains(dataset), !stage.isEmpty { return (dataset, stage) }
        }
        throw StoreError.unknownDataset(name: text, known: known)
    }

    /// Scores the snapshot's label rows on the stages of another dataset (or one stage of it).
    public func evaluate(snapshot id: Int64, on dataset: String, stage stageName: String? = nil, split: Split = .test) throws -> CrossEvaluation {
        let summary = try store.snapshotSummary(id)
        let target = try store.resolveDataset(dataset)
        guard target.name != summary.dataset else { throw ContinualError.crossOnOwnDataset(snapshot: id, dataset: dataset) }
        var stages = try store.stages(of: target.id!)
        if let stageName {
            stages = stages.filter { $0.name == stageName }
            guard !stages.isEmpty else { throw StoreError.unknownStage(dataset: dataset, name: stageName) }
        }
        let rows = try store.labelRows(snapshot: id)
        var indexOf: [String: Int] = [:]
        for (i, row) in rows.enumerated() where indexOf[row.classRecord.name] == nil { indexOf[row.classRecord.name] = i }

        // Nothing is computed (or cached) when no class matches at all.
        let stageSamples = try stages.map { try store.samples(stage: $0.id!, split: split) }
        let allClasses = stageSamples.flatMap { $0.classes.map(\.name) }
        guard allClasses.contains(where: { indexOf[$0] != nil }) else {
            throw ContinualError.noMatchingClasses(snapshot: id, dataset: dataset, stage: stageName, classes: allClasses)
        }
        let d = dimension
        let text = try features.snapshotTextFeatures(rows, snapshot: id)
        let prompts = try features.maplePrompts(ofSnapshot: id)
        var results: [CrossEvaluation.Stage] = []
        var records: [CrossEvaluationRecord] = []
        for (stage, samples) in zip(stages, stageSamples) {
            let names = samples.classes.map(\.name)
            let matched = names.indices.filter { indexOf[names[$0]] != nil }
            var entry = CrossEvaluation.Stage(stage: stage.name, accuracy: nil, baseline: nil, correct: 0, total: 0,
                                              matchedClasses: matched.count, unmatchedClasses: names.filter { indexOf[$0] == nil })
            let position = Dictionary(uniqueKeysWithValues: matched.enumerated().map { ($1, $0) })
            let kept = samples.labels.indices.filter { position[samples.labels[$0]] != nil }
            guard !matched.isEmpty, !kept.isEmpty else {
                results.append(entry)
                continue
            }
            let labels = kept.map { position[samples.labels[$0]]! }
            let clipImages = normalized(samples.features, dimension: d)
            let seen = try features.snapshotImageFeatures(samples, split: split, prompts: prompts, snapshot: id)
            func rowsOf(_ features: [Float]) -> [Float] { kept.flatMap { features[($0 * d)..<(($0 + 1) * d)] } }
            let snapshotText = matched.flatMap { c in text[(indexOf[names[c]]! * d)..<((indexOf[names[c]]! + 1) * d)] }
            let accuracy = Evaluation.accuracy(imageFeatures: rowsOf(seen), labels: labels, textFeatures: snapshotText, dimension: d)
            let baseline = Evaluation.accuracy(imageFeatures: rowsOf(clipImages), labels: labels,
                                               textFeatures: try features.clipTextFeatures(matched.map { names[$0] }), dimension: d)
            (entry.accuracy, entry.baseline, entry.correct, entry.total) = (accuracy.percent, baseline.percent, accuracy.correct, accuracy.total)
            records.append(CrossEvaluationRecord(
                snapshotId: id, stageId: stage.id!, split: split, matchedClasses: matched.count,
                unmatchedClassesJson: String(decoding: try JSONEncoder().encode(entry.unmatchedClasses), as: UTF8.self),
                correct: accuracy.correct, total: accuracy.total, accuracy: accuracy.percent, baseline: baseline.percent, evaluatedAt: Date()))
            results.append(entry)
        }
        let stored = try store.record(crossEvaluations: records)
        return CrossEvaluation(snapshot: id, dataset: summary.dataset, method: summary.method, on: target.name, split: split,
                               stages: results, stored: stored)
    }
}
