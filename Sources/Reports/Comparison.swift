import Continual
import Evaluation
import Formats
import Foundation
import Methods
import Store
import Training

/// One method's row of the comparison (LAMM.md Table 2): each stage after its own training and
/// after the method's last stage, and the difference.
public struct StageComparison: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var stage: String
    public var afterOwnTraining: Double?
    public var afterLastStage: Double?
    public var degradation: Double?
    /// The paper's cell for this dataset, method and stage, when there is one.
    public var published: Double?
}

public struct MethodComparison: Codable, Sendable, Equatable {
    public var method: Method
    /// The sweep run of this lineage; nil for the add-classes lineage.
    public var run: RunTag?
    /// The snapshot that trained each stage, in stage order, up to the method's last stage.
    public var snapshots: [Int64]
    /// R[t][k] (%), t and k over the stages the method reached.
    public var matrix: AccuracyMatrix
    public var stages: [StageComparison]
    public var metrics: ContinualMetrics
    /// Each trainer snapshot's stored loss curve, in stage order.
    public var lossCurves: [SnapshotLossCurve] = []
    /// Per earlier stage, its classes' accuracy under the snapshot that trained it and under the
    /// lineage's last, most forgotten first (the add-classes lineage only).
    public var classChanges: [StageClassChanges] = []
    /// Each trainer snapshot's manifest (how it was made), in stage order; nil for snapshots
    /// written before manifests.
    public var manifests: [SnapshotManifest?] = []
}

public struct SnapshotLossCurve: Codable, Sendable, Equatable {
    public var snapshot: Int64
    public var stage: String
    public var epochs: [EpochLoss]
}

public struct StageClassChanges: Codable, Sendable, Equatable {
    public var stage: String
    public var classes: [ClassAccuracyChange]
}

public struct DatasetComparison: Codable, Sendable, Equatable {
    public var dataset: String
    public var stages: [String]
    /// Test rows of each stage (the weights of the average accuracy).
    public var sampleCounts: [Int]
    /// Zero-shot CLIP on each stage.
    public var zeroShot: [Double?]
    /// The paper's zero-shot CLIP cells for this dataset, per stage.
    public var zeroShotPublished: [Double?]
    public var methods: [MethodComparison]
    /// Each sweep run's lineage (`lamm-store sweep`), by method, shots and seed.
    public var runs: [MethodComparison] = []
    /// The runs that differ only in seed, aggregated (LAMM.md Table 3).
    public var sweeps: [SweepSummary] = []
    /// This dataset's snapshots evaluated on other datasets (`eval --on`; LAMM.md Table 1).
    public var crossDataset: [CrossDatasetComparison] = []
    /// This dataset's snapshots scored on their classes and on classes they have not trained
    /// (`eval --on-new`), as CoCoOp's and MaPLe's base-to-new tables.
    public var baseToNew: [BaseToNewComparison] = []
    /// The paper's Table 2 cells for this dataset (labelled as published; nothing is computed from them).
    public var published: [PublishedResultRecord]
}

/// A snapshot's newest evaluation on a stage of another dataset, beside the paper's Table 1 cell
/// for the method and that dataset when the names match.
public struct CrossDatasetComparison: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var snapshot: Int64
    public var method: Method
    public var run: RunTag?
    public var on: String
    public var stage: String
    public var accuracy: Double
    public var baseline: Double
    public var matchedClasses: Int
    public var unmatchedClasses: [String]
    public var published: Double?
}

/// A snapshot's newest base-to-new evaluation: base, new and their harmonic mean, beside
/// zero-shot CLIP's on the same rows.
public struct BaseToNewComparison: Codable, Sendable, Equatable, EncodesNilAsNull {
    public var snapshot: Int64
    public var method: Method
    public var run: RunTag?
    /// The stage the snapshot was trained up to (its base classes are those of its lineage).
    public var trainedStage: String
    /// The dataset and stage of the new classes.
    public var on: String
    public var stage: String
    public var base: Double
    public var new: Double
    public var harmonicMean: Double
    public var baselineBase: Double
    public var baselineNew: Double
    public var baselineHarmonicMean: Double
}

/// A mean and standard deviation over runs (sample standard deviation; 0 for one run).
public struct MeanDeviation: Codable, Sendable, Equatable {
    public var mean: Double
    public var deviation: Double
    public var count: Int

    /// Of the values that exist; nil when none does.
    public init?(_ values: [Double?]) {
        let present = values.compactMap { $0 }
        guard !present.isEmpty else { return nil }
        let n = Double(present.count), m = present.reduce(0, +) / n
        count = present.count
        mean = m
        deviation = present.count < 2 ? 0 : (present.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot()
    }
}

/// One method at one shot count over its seeds: each stage after its own training and after the
/// last stage, the degradation, and the average accuracy after the last stage.
public struct SweepSummary: Codable, Sendable, Equatable, EncodesNilAsNull {
    public struct Stage: Codable, Sendable, Equatable, EncodesNilAsNull {
        public var stage: String
        public var afterOwnTraining: MeanDeviation?
        public var afterLastStage: MeanDeviation?
        public var degradation: MeanDeviation?
    }

    public var method: Method
    /// The ablation (`sweep --variants`); nil for the full method.
    public var variant: String?
    public var shots: Int
    public var seeds: [UInt64]
    public var stages: [Stage]
    public var averageAccuracy: MeanDeviation?
    /// The paper's Table 3 cell (average over 11 datasets) for the method (with or without the
    /// hierarchical loss) at these shots.
    public var published: Double?

    /// The method with its variant, as tables and charts name a row: `lamm`, `lamm no-hl`.
    public var label: String { method.rawValue + (variant.map { " " + $0 } ?? "") }
}

public struct Comparison: Codable, Sendable, Equatable {
    public var `protocol`: Protocol
    public var split: Split
    public var datasets: [DatasetComparison]
    /// The sweep runs of all datasets in the paper's layouts (Tables 3-5, Figure 3).
    public var paper = PaperTables(datasets: [], published: [:])
}

public enum CompareError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case emptyStore
    case noSnapshots(dataset: String)

    public var description: String {
        switch self {
        case .emptyStore:
            return "the store holds no datasets yet; add stages with `lamm-store add-classes` before comparing."
        case let .noSnapshots(dataset):
            return "dataset '\(dataset)' has no snapshots to compare yet; train a stage with `lamm-store add-classes`."
        }
    }

    public var errorDescription: String? { description }
}

/// The paper's names for the store's methods and dataset names, to find published cells.
enum PublishedNames {
    static let methods: [Method: String] = [.zeroshot: "Zero-shot CLIP", .lamm: "LAMM", .coop: "CoOp", .coopLAMM: "CoOp+LAMM", .maple: "MaPLe", .mapleLAMM: "MaPLe+LAMM"]

    static func key(_ name: String) -> String { name.lowercased().filter { $0.isLetter || $0.isNumber } }
}

extension SnapshotEvaluator {
    /// Compares every method's lineage on each dataset (or one): the accuracy matrix, each stage
    /// after its own training and after the last stage, degradation and continual-learning
    /// metrics, beside zero-shot CLIP and the paper's published cells. Evaluations that are
    /// missing are computed and stored; the numbers are those `evaluate` gives.
    public func compare(dataset: String? = nil, split: Split = .test, protocol evaluationProtocol: Protocol = .task) throws -> Comparison {
        let names = try store.datasetNames()
        guard !names.isEmpty else { throw CompareError.emptyStore }
        if let dataset { _ = try store.resolveDataset(dataset) }
        var datasets: [DatasetComparison] = []
        for name in names where dataset == nil || dataset == name {
            datasets.append(try compareDataset(name, split: split, protocol: evaluationProtocol))
        }
        let published = try Dictionary(uniqueKeysWithValues: [3, 4, 5].map { ($0, try store.publishedResults(table: $0)) })
        return Comparison(protocol: evaluationProtocol, split: split, datasets: datasets,
                          paper: PaperTables(datasets: datasets, published: published))
    }

    /// What every lineage of a dataset is compared on: its stages, their sample counts in the
    /// split, and the paper's Table 2 cells for it.
    struct DatasetFrame {
        var stages: [StageRecord]
        var sampleCounts: [Int]
        var published: [PublishedResultRecord]
        var split: Split
        var evaluationProtocol: Protocol

        func publishedCell(_ method: Method, _ stage: String) -> Double? {
            guard let paperName = PublishedNames.methods[method] else { return nil }
            return published.first { $0.method == paperName && $0.setting == stage }?.value
        }
    }

    func compareDataset(_ name: String, split: Split, protocol evaluationProtocol: Protocol) throws -> DatasetComparison {
        let datasetRecord = try store.resolveDataset(name)
        let stages = try store.stages(of: datasetRecord.id!)
        let snapshots = try store.snapshots(dataset: name)
        guard !snapshots.isEmpty else { throw CompareError.noSnapshots(dataset: name) }
        let frame = DatasetFrame(
            stages: stages, sampleCounts: try stages.map { try store.samples(stage: $0.id!, split: split).count },
            published: try store.publishedResults(table: 2).filter { PublishedNames.key($0.columnName) == PublishedNames.key(name) },
            split: split, evaluationProtocol: evaluationProtocol)
        // Zero-shot CLIP's accuracy per stage, filled in by the lineages' evaluations.
        var zeroShot: [Double?] = stages.map { _ in nil }
        var methods: [MethodComparison] = []
        for method in Method.allCases {
            guard let latest = snapshots.last(where: { $0.method == method && $0.run == nil }),
                  let row = try compareLineage(latest, frame: frame, zeroShot: &zeroShot) else { continue }
            methods.append(row)
        }
        // Sweep runs: one lineage each, in method, shots and seed order.
        var runs: [MethodComparison] = []
        for method in Method.allCases {
            let tags = Set(snapshots.filter { $0.method == method }.compactMap(\.run)).sorted()
            for tag in tags {
                if let latest = snapshots.last(where: { $0.method == method && $0.run == tag }),
                   let row = try compareLineage(latest, frame: frame, zeroShot: &zeroShot) { runs.append(row) }
            }
        }
        return DatasetComparison(dataset: name, stages: stages.map(\.name), sampleCounts: frame.sampleCounts, zeroShot: zeroShot,
                                 zeroShotPublished: stages.map { frame.publishedCell(.zeroshot, $0.name) },
                                 methods: methods, runs: runs, sweeps: try sweepSummaries(runs, stages: stages),
                                 crossDataset: try crossDatasetComparisons(name, snapshots: snapshots, split: split),
                                 baseToNew: try baseToNewComparisons(name, snapshots: snapshots, split: split),
                                 published: frame.published)
    }

    /// One lineage, from its latest snapshot: the newest snapshot of the chain for each stage the
    /// method reached, their accuracy matrix, each stage after its own training and after the
    /// last, the metrics, loss curves and per-class changes. Baselines its evaluations report
    /// fill in `zeroShot`.
    func compareLineage(_ latest: SnapshotSummary, frame: DatasetFrame, zeroShot: inout [Double?]) throws -> MethodComparison? {
        let method = latest.method, stages = frame.stages
        let chain = try store.lineage(of: latest.id)
        var trainers: [Int64] = []
        for stage in stages {
            guard let trainer = chain.first(where: { $0.stageId == stage.id }) else { break }
            trainers.append(trainer.id!)
        }
        guard !trainers.isEmpty else { return nil }
        let reached = trainers.count
        let (matrix, last) = try accuracyMatrix(trainers, frame: frame, zeroShot: &zeroShot)
        let r = AccuracyMatrix(matrix)
        let final = last?.stages ?? []
        let rows = (0..<reached).map { k -> StageComparison in
            let own = matrix[k][k], after = k < final.count ? final[k].accuracy : nil
            return StageComparison(stage: stages[k].name, afterOwnTraining: own, afterLastStage: after,
                                   degradation: own.flatMap { o in after.map { $0 - o } },
                                   published: latest.run == nil ? frame.publishedCell(method, stages[k].name) : nil)
        }
        let records = try trainers.map { try store.snapshotRecord($0) }
        let curves = zip(records, stages).map { record, stage in
            SnapshotLossCurve(snapshot: record.id!, stage: stage.name, epochs: record.lossCurve ?? [])
        }
        var changes: [StageClassChanges] = []
        if latest.run == nil, frame.evaluationProtocol == .task, let last = trainers.last {
            for (k, trainer) in trainers.enumerated().dropLast() {
                changes.append(StageClassChanges(stage: stages[k].name,
                                                 classes: try classAccuracyChanges(stage: stages[k], trainedBy: trainer, later: last, split: frame.split)))
            }
        }
        return MethodComparison(method: method, run: latest.run, snapshots: trainers, matrix: r, stages: rows,
                                metrics: ContinualMetrics(r, sampleCounts: Array(frame.sampleCounts.prefix(reached)),
                                                          baselines: Array(zeroShot.prefix(reached))),
                                lossCurves: curves, classChanges: changes, manifests: records.map { $0.configuration?.manifest })
    }

    /// R[t][k], the accuracy on stage k after training stage t (and, for the next stage before
    /// it is trained, the snapshot with CLIP's words for its classes), and the last evaluation.
    func accuracyMatrix(_ trainers: [Int64], frame: DatasetFrame, zeroShot: inout [Double?]) throws
        -> (matrix: [[Double?]], last: SnapshotEvaluation?) {
        let reached = trainers.count
        var matrix = [[Double?]](repeating: [Double?](repeating: nil, count: reached), count: reached)
        var last: SnapshotEvaluation?
        for (t, id) in trainers.enumerated() {
            let evaluation = try evaluateIfPossible(snapshot: id, split: frame.split, protocol: frame.evaluationProtocol)
            for (k, entry) in (evaluation?.stages ?? []).enumerated() where k < reached {
                matrix[t][k] = entry.accuracy
                if zeroShot[k] == nil { zeroShot[k] = entry.baseline }
            }
            if t + 1 < reached {
                matrix[t][t + 1] = try accuracyBeforeTraining(snapshot: id, stage: frame.stages[t + 1], split: frame.split,
                                                              protocol: frame.evaluationProtocol)
            }
            last = evaluation
        }
        return (matrix, last)
    }

    /// Evaluations of the dataset's snapshots on other datasets (Table 1's layout).
    func crossDatasetComparisons(_ name: String, snapshots: [SnapshotSummary], split: Split) throws -> [CrossDatasetComparison] {
        let domainShift = try store.publishedResults(table: 1)
        return try store.latestCrossEvaluations(ofSnapshotsOf: name, split: split).compactMap { stored -> CrossDatasetComparison? in
            guard let summary = snapshots.first(where: { $0.id == stored.record.snapshotId }) else { return nil }
            let paperName = summary.method == .zeroshot ? "CLIP" : PublishedNames.methods[summary.method]
            let unmatched = (try? JSONDecoder().decode([String].self, from: Data(stored.record.unmatchedClassesJson.utf8))) ?? []
            return CrossDatasetComparison(
                snapshot: summary.id, method: summary.method, run: summary.run, on: stored.onDataset, stage: stored.onStage,
                accuracy: stored.record.accuracy, baseline: stored.record.baseline, matchedClasses: stored.record.matchedClasses,
                unmatchedClasses: unmatched,
                published: domainShift.first { $0.method == paperName && PublishedNames.key($0.columnName) == PublishedNames.key(stored.onDataset) }?.value)
        }
    }

    /// Base-to-new evaluations of the dataset's snapshots, in snapshot order.
    func baseToNewComparisons(_ name: String, snapshots: [SnapshotSummary], split: Split) throws -> [BaseToNewComparison] {
        try store.latestBaseToNewEvaluations(ofSnapshotsOf: name, split: split).compactMap { stored -> BaseToNewComparison? in
            guard let summary = snapshots.first(where: { $0.id == stored.record.snapshotId }) else { return nil }
            let r = stored.record
            return BaseToNewComparison(snapshot: summary.id, method: summary.method, run: summary.run, trainedStage: summary.stage,
                                       on: stored.onDataset, stage: stored.onStage, base: r.baseAccuracy, new: r.newAccuracy,
                                       harmonicMean: harmonicMean(r.baseAccuracy, r.newAccuracy), baselineBase: r.baseBaseline,
                                       baselineNew: r.newBaseline, baselineHarmonicMean: harmonicMean(r.baseBaseline, r.newBaseline))
        }
    }

    /// Sweep runs grouped by method and shots, mean +- sd over their seeds, beside Table 3's cells.
    func sweepSummaries(_ runs: [MethodComparison], stages: [StageRecord]) throws -> [SweepSummary] {
        let fewShot = try store.publishedResults(table: 3)
        return Dictionary(grouping: runs) { "\($0.method.rawValue) \($0.run!.variant ?? "") \($0.run!.shots)" }.values
            .map { group -> SweepSummary in
                let first = group[0], method = first.method, shots = first.run!.shots, variant = first.run!.variant
                let stageCount = group.map(\.stages.count).max() ?? 0
                let summaries = (0..<stageCount).map { k in
                    SweepSummary.Stage(stage: stages[k].name,
                                       afterOwnTraining: MeanDeviation(group.map { k < $0.stages.count ? $0.stages[k].afterOwnTraining : nil }),
                                       afterLastStage: MeanDeviation(group.map { k < $0.stages.count ? $0.stages[k].afterLastStage : nil }),
                                       degradation: MeanDeviation(group.map { k < $0.stages.count ? $0.stages[k].degradation : nil }))
                }
                // Table 3 has the full methods and their "w/o HL" rows.
                let paperName = PublishedNames.methods[method].flatMap { name in
                    variant == nil ? name : variant == "no-hl" ? name + " (w/o HL)" : nil
                }
                return SweepSummary(method: method, variant: variant, shots: shots, seeds: group.map { $0.run!.seed }, stages: summaries,
                                    averageAccuracy: MeanDeviation(group.map(\.metrics.averageAccuracy)),
                                    published: fewShot.first { $0.method == paperName && $0.columnName == "\(shots)-shot" }?.value)
            }
            .sorted { (Method.allCases.firstIndex(of: $0.method)!, $0.variant ?? "", $0.shots) < (Method.allCases.firstIndex(of: $1.method)!, $1.variant ?? "", $1.shots) }
    }

    /// `evaluate`, or nil when the split has no rows in any stage the snapshot covers.
    func evaluateIfPossible(snapshot id: Int64, split: Split, protocol evaluationProtocol: Protocol) throws -> SnapshotEvaluation? {
        do {
            return try evaluate(snapshot: id, split: split, protocol: evaluationProtocol)
        } catch ContinualError.nothingToEvaluate {
            return nil
        }
    }
}
