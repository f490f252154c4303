import Evaluation
import Formats
import Foundation
import Methods
import Store

/// One stage's result in `eval`: percentages 0-100.
public struct StageEvaluation: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var stage: String
    public var accuracy: Double?
    /// Zero-shot CLIP on the same rows and label space.
    public var baseline: Double?
    /// The stage's accuracy in the snapshot of this lineage that trained it.
    public var accuracyWhenTrained: Double?
    /// accuracy - accuracyWhenTrained: 0 means no forgetting.
    public var degradation: Double?
    public var correct: Int
    public var total: Int
    /// The snapshot that trained the stage.
    public var trainedBy: Int64?
}

public struct SnapshotEvaluation: Codable, Sendable, Equatable {
    public var snapshot: Int64
    public var dataset: String
    public var method: Method
    public var `protocol`: Protocol
    public var split: Split
    public var stages: [StageEvaluation]
    /// Sample-weighted over the evaluated stages.
    public var averageAccuracy: Double
    /// Whether the results were stored: not when the store is read-only, or another process
    /// holds its write lock (an evaluation never waits for it).
    public var stored = true
}

extension SnapshotEvaluator {
    /// Evaluates a snapshot on every stage of its dataset up to its own, beside the zero-shot
    /// baseline and the accuracy each stage had when it was trained; stores the evaluations.
    public func evaluate(snapshot id: Int64, split: Split = .test, protocol evaluationProtocol: Protocol = .task) throws -> SnapshotEvaluation {
        let summary = try store.snapshotSummary(id)
        // Refuse an empty split before anything is computed (and cached).
        let rows = try store.labelRows(snapshot: id)
        let covered = rows.reduce(into: [StageRecord]()) { stages, row in
            if !stages.contains(where: { $0.id == row.stage.id }) { stages.append(row.stage) }
        }
        guard try covered.contains(where: { try store.sampleCount(stage: $0.id!, split: split) > 0 }) else {
            throw ContinualError.nothingToEvaluate(snapshot: id, split: split.rawValue, stages: covered.map(\.name))
        }
        let lineage = try store.lineage(of: id)
        var evaluations: [EvaluationRecord] = []
        var baselines: [BaselineRecord] = []
        let current = try score(snapshot: id, rows: rows, split: split, protocol: evaluationProtocol)
        var stages: [StageEvaluation] = []
        for result in current.results {
            let stage = result.stage
            var entry = StageEvaluation(stage: stage.name, correct: result.accuracy.correct, total: result.accuracy.total)
            guard result.accuracy.total > 0 else {
                stages.append(entry)
                continue
            }
            entry.accuracy = result.accuracy.percent
            evaluations.append(EvaluationRecord(snapshotId: id, stageId: stage.id!, split: split, protocol: evaluationProtocol,
                                                correct: result.accuracy.correct, total: result.accuracy.total,
                                                accuracy: result.accuracy.percent, seconds: current.seconds, evaluatedAt: Date()))
            // Zero-shot CLIP: stored for the task protocol; the class protocol's depends on the snapshot's label space.
            if evaluationProtocol == .task, let stored = try store.baseline(stage: stage.id!, split: split, protocol: .task) {
                entry.baseline = stored.accuracy
            } else {
                entry.baseline = result.baseline.percent
                if evaluationProtocol == .task {
                    baselines.append(BaselineRecord(stageId: stage.id!, split: split, protocol: .task, correct: result.baseline.correct,
                                                    total: result.baseline.total, accuracy: result.baseline.percent, computedAt: Date()))
                }
            }
            if let trainer = lineage.first(where: { $0.stageId == stage.id }) {
                entry.trainedBy = trainer.id
                if trainer.id == id {
                    entry.accuracyWhenTrained = entry.accuracy
                } else if let stored = try store.latestEvaluation(snapshot: trainer.id!, stage: stage.id!, split: split, protocol: evaluationProtocol) {
                    entry.accuracyWhenTrained = stored.accuracy
                } else {
                    let earlier = try score(snapshot: trainer.id!, split: split, protocol: evaluationProtocol)
                    if let own = earlier.results.first(where: { $0.stage.id == stage.id })?.accuracy, own.total > 0 {
                        entry.accuracyWhenTrained = own.percent
                        evaluations.append(EvaluationRecord(snapshotId: trainer.id!, stageId: stage.id!, split: split,
                                                            protocol: evaluationProtocol, correct: own.correct, total: own.total,
                                                            accuracy: own.percent, seconds: earlier.seconds, evaluatedAt: Date()))
                    }
                }
                entry.degradation = entry.accuracyWhenTrained.map { entry.accuracy! - $0 }
            }
            stages.append(entry)
        }
        let evaluated = stages.filter { $0.total > 0 }
        let stored = try store.record(evaluations: evaluations, baselines: baselines)
        let correct = evaluated.map(\.correct).reduce(0, +), total = evaluated.map(\.total).reduce(0, +)
        return SnapshotEvaluation(snapshot: id, dataset: summary.dataset, method: summary.method, protocol: evaluationProtocol,
                                  split: split, stages: stages, averageAccuracy: 100 * Double(correct) / Double(total), stored: stored)
    }

    /// Accuracy of a snapshot on each stage up to its own, and zero-shot CLIP's on the same rows
    /// and label space. One sgemm per stage.
    func score(snapshot id: Int64, rows given: [SnapshotClassRow]? = nil, split: Split, protocol evaluationProtocol: Protocol)
        throws -> (results: [(stage: StageRecord, accuracy: Accuracy, baseline: Accuracy)], seconds: Double) {
        let start = Date()
        let d = dimension
        let rows = try given ?? store.labelRows(snapshot: id)
        // MaPLe's prompts act in both towers: its text features and its image features.
        let prompts = try features.maplePrompts(ofSnapshot: id)
        let snapshotText = try features.snapshotTextFeatures(rows, snapshot: id)
        let clip = try features.clipTextFeatures(rows.map(\.classRecord.name))
        var stageOrder: [StageRecord] = []
        for row in rows where !stageOrder.contains(where: { $0.id == row.stage.id }) { stageOrder.append(row.stage) }
        var results: [(StageRecord, Accuracy, Accuracy)] = []
        for stage in stageOrder {
            let samples = try store.samples(stage: stage.id!, split: split)
            // Label space: the stage's own classes (task) or every class the snapshot covers (class).
            let members = rows.indices.filter { evaluationProtocol == .class || rows[$0].stage.id == stage.id }
            let offset = members.firstIndex { rows[$0].stage.id == stage.id }!
            let images = normalized(samples.features, dimension: d)
            let seen = try features.snapshotImageFeatures(samples, split: split, prompts: prompts, snapshot: id)
            let labels = samples.labels.map { offset + $0 }
            let text = members.flatMap { snapshotText[($0 * d)..<(($0 + 1) * d)] }
            let clipText = members.flatMap { clip[($0 * d)..<(($0 + 1) * d)] }
            results.append((stage, accuracy(imageFeatures: seen, labels: labels, textFeatures: text, dimension: d),
                            accuracy(imageFeatures: images, labels: labels, textFeatures: clipText, dimension: d)))
        }
        return (results, Date().timeIntervalSince(start))
    }

    /// Accuracy (%) on a stage the snapshot has not trained yet: its classes take CLIP's word
    /// embeddings, with the snapshot's context (CoOp) if any; nil when the split has no rows.
    /// This is R[t][t+1] of the accuracy matrix, the basis of forward transfer.
    public func accuracyBeforeTraining(snapshot id: Int64, stage: StageRecord, split: Split, protocol evaluationProtocol: Protocol) throws -> Double? {
        let samples = try store.samples(stage: stage.id!, split: split)
        guard samples.count > 0 else { return nil }
        let d = dimension
        let prompts = try features.maplePrompts(ofSnapshot: id)
        let unseen = try untrainedTextFeatures(snapshot: id, classes: samples.classes.map(\.name), prompts: prompts)
        var text = unseen
        var offset = 0
        if evaluationProtocol == .class {
            let covered = try features.snapshotTextFeatures(try store.labelRows(snapshot: id), snapshot: id)
            text = covered + unseen
            offset = covered.count / d
        }
        let images = try features.snapshotImageFeatures(samples, split: split, prompts: prompts, snapshot: id)
        return accuracy(imageFeatures: images, labels: samples.labels.map { offset + $0 }, textFeatures: text, dimension: d).percent
    }
}

/// One class's accuracy on a stage's rows, under two snapshots of a lineage.
public struct ClassAccuracyChange: Codable, Sendable, Equatable {
    public var className: String
    public var total: Int
    /// Accuracy (%) under the snapshot that trained the stage, and under the later one.
    public var before: Double
    public var after: Double
    public var change: Double { after - before }
}

extension SnapshotEvaluator {
    /// Per class of `stage` (task protocol: among the stage's own classes), the accuracy under
    /// the snapshot that trained it and under a later snapshot of its lineage, most forgotten
    /// first: which classes a method's later stages cost.
    public func classAccuracyChanges(stage: StageRecord, trainedBy before: Int64, later after: Int64, split: Split = .test) throws -> [ClassAccuracyChange] {
        let samples = try store.samples(stage: stage.id!, split: split)
        guard samples.count > 0 else { return [] }
        func correctByClass(_ id: Int64) throws -> [Int] {
            let rows = try store.labelRows(snapshot: id).filter { $0.stage.id == stage.id }
            let text = try features.snapshotTextFeatures(rows, snapshot: id)
            let images = try features.snapshotImageFeatures(samples, split: split, prompts: try features.maplePrompts(ofSnapshot: id), snapshot: id)
            let predicted = predictions(imageFeatures: images, textFeatures: text, dimension: dimension)
            var correct = [Int](repeating: 0, count: samples.classes.count)
            for (p, label) in zip(predicted, samples.labels) where p == label { correct[label] += 1 }
            return correct
        }
        let (a, b) = (try correctByClass(before), try correctByClass(after))
        var totals = [Int](repeating: 0, count: samples.classes.count)
        for label in samples.labels { totals[label] += 1 }
        return samples.classes.indices.filter { totals[$0] > 0 }.map { c in
            ClassAccuracyChange(className: samples.classes[c].name, total: totals[c], before: 100 * Double(a[c]) / Double(totals[c]),
                                after: 100 * Double(b[c]) / Double(totals[c]))
        }.sorted { ($0.change, $0.className) < ($1.change, $1.className) }
    }
}
