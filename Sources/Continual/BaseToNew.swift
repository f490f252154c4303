// Base-to-new generalisation, as CoCoOp and MaPLe report it: a snapshot scored on the classes it
// trained (base) and on classes it has never seen (new), with the harmonic mean of the two.
// The new classes take what the method would give any unseen class: LAMM has no row for them, so
// CLIP's own words under its template; CoOp and MaPLe put their learned context (and MaPLe its
// deep prompts in both towers) around the new class names.

import Evaluation
import Formats
import Foundation
import Methods
import Store
import Training

/// The harmonic mean of base and new accuracy (%), 0 when either is 0.
public func harmonicMean(_ base: Double, _ new: Double) -> Double {
    base + new > 0 ? 2 * base * new / (base + new) : 0
}

public struct BaseToNewEvaluation: Codable, Sendable, Equatable {
    /// One side's accuracy (%), beside zero-shot CLIP's on the same rows and label space.
    public struct Side: Codable, Sendable, Equatable {
        public var accuracy: Double
        public var baseline: Double
        public var correct: Int
        public var total: Int
        /// The classes of the label space.
        public var classes: Int
        /// The stages the side's classes come from.
        public var stages: [String]
    }

    public var snapshot: Int64
    public var dataset: String
    public var method: Method
    /// The dataset and stage of the new classes.
    public var on: String
    public var stage: String
    public var split: Split
    /// Among all the classes the snapshot trained, one label space.
    public var base: Side
    /// Among the new stage's classes.
    public var new: Side
    public var harmonicMean: Double
    /// Zero-shot CLIP's harmonic mean on the same rows.
    public var baselineHarmonicMean: Double
    /// Whether the result was stored (not when another process holds the write lock).
    public var stored = true
}

extension SnapshotEvaluator {
    /// `DATASET:STAGE` as `eval --on-new` takes it; a dataset of one stage may be named alone.
    public func newStageTarget(_ text: String) throws -> (dataset: String, stage: String) {
        let (dataset, stage) = try crossTarget(text)
        if let stage { return (dataset, stage) }
        let stages = try store.stages(of: try store.resolveDataset(dataset).id!)
        guard stages.count == 1 else { throw ContinualError.newStageNotNamed(dataset: dataset, stages: stages.map(\.name)) }
        return (dataset, stages[0].name)
    }

    /// Scores the snapshot on its own classes (base) and on the classes of `stage` of `dataset`,
    /// which it has not trained (new); stores the result.
    public func evaluateBaseToNew(snapshot id: Int64, on dataset: String, stage stageName: String, split: Split = .test) throws -> BaseToNewEvaluation {
        let summary = try store.snapshotSummary(id)
        let target = try store.resolveDataset(dataset)
        guard let stage = try store.stages(of: target.id!).first(where: { $0.name == stageName }) else {
            throw StoreError.unknownStage(dataset: target.name, name: stageName)
        }
        let record = try store.snapshotRecord(id)
        if target.id == record.datasetId, let own = try store.stages(of: target.id!).first(where: { $0.id == record.stageId }),
           stage.position <= own.position {
            throw ContinualError.newStageTrained(snapshot: id, dataset: target.name, stage: stage.name, snapshotStage: own.name)
        }
        let rows = try store.labelRows(snapshot: id)
        let samples = try store.samples(stage: stage.id!, split: split)
        let trained = Set(rows.map(\.classRecord.name))
        let overlap = samples.classes.map(\.name).filter(trained.contains)
        guard overlap.isEmpty else {
            throw ContinualError.newClassesTrained(snapshot: id, dataset: target.name, stage: stage.name, classes: overlap)
        }
        guard samples.count > 0 else {
            throw ContinualError.nothingToEvaluate(snapshot: id, split: split.rawValue, stages: ["\(target.name):\(stage.name)"])
        }

        // Base: every class the snapshot covers in one label space (the class protocol).
        let base = try score(snapshot: id, rows: rows, split: split, protocol: .class).results.filter { $0.accuracy.total > 0 }
        guard !base.isEmpty else {
            throw ContinualError.nothingToEvaluate(snapshot: id, split: split.rawValue, stages: Array(Set(rows.map(\.stage.name))).sorted())
        }
        let baseCorrect = base.map(\.accuracy.correct).reduce(0, +), baseTotal = base.map(\.accuracy.total).reduce(0, +)
        let baseBaselineCorrect = base.map(\.baseline.correct).reduce(0, +)

        // New: the stage's classes only, as the method gives classes it has not trained.
        let d = dimension
        let prompts = try features.maplePrompts(ofSnapshot: id)
        let text = try untrainedTextFeatures(snapshot: id, classes: samples.classes.map(\.name), prompts: prompts)
        let images = try features.snapshotImageFeatures(samples, split: split, prompts: prompts, snapshot: id)
        let new = accuracy(imageFeatures: images, labels: samples.labels, textFeatures: text, dimension: d)
        let newBaseline = accuracy(imageFeatures: normalized(samples.features, dimension: d), labels: samples.labels,
                                   textFeatures: try features.clipTextFeatures(samples.classes.map(\.name)), dimension: d)

        func percent(_ correct: Int, _ total: Int) -> Double { 100 * Double(correct) / Double(total) }
        let baseSide = BaseToNewEvaluation.Side(accuracy: percent(baseCorrect, baseTotal), baseline: percent(baseBaselineCorrect, baseTotal),
                                                correct: baseCorrect, total: baseTotal, classes: rows.count,
                                                stages: base.map(\.stage.name))
        let newSide = BaseToNewEvaluation.Side(accuracy: new.percent, baseline: newBaseline.percent, correct: new.correct, total: new.total,
                                               classes: samples.classes.count, stages: [stage.name])
        let stored = try store.record(baseToNew: BaseToNewEvaluationRecord(
            snapshotId: id, stageId: stage.id!, split: split,
            base: (baseSide.correct, baseSide.total, baseSide.accuracy, baseSide.baseline),
            new: (newSide.correct, newSide.total, newSide.accuracy, newSide.baseline), evaluatedAt: Date()))
        return BaseToNewEvaluation(snapshot: id, dataset: summary.dataset, method: summary.method, on: target.name, stage: stage.name,
                                   split: split, base: baseSide, new: newSide,
                                   harmonicMean: harmonicMean(baseSide.accuracy, newSide.accuracy),
                                   baselineHarmonicMean: harmonicMean(baseSide.baseline, newSide.baseline), stored: stored)
    }

    /// Text features [C, D] of classes the snapshot has no label rows for: CLIP's word embeddings
    /// of their names, under the snapshot's context (CoOp) or MaPLe prompts if it has them.
    func untrainedTextFeatures(snapshot id: Int64, classes: [String], prompts: MaPLePrompts?) throws -> [Float] {
        if let prompts {
            return try features.mapleTextFeatures(classes.map { ($0, nil) }, prompts: prompts, method: try store.snapshotRecord(id).method)
        }
        return try features.promptFeatures(try classes.map { try features.originalLabelVectors($0) },
                                           context: try features.context(ofSnapshot: id)?.vectors)
    }
}
