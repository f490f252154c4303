import Continual
import Evaluation
import Formats
import Foundation
import Store

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
    /// The snapshot that trained each stage, in stage order, up to the method's last stage.
    public var snapshots: [Int64]
    /// R[t][k] (%), t and k over the stages the method reached.
    public var matrix: AccuracyMatrix
    public var stages: [StageComparison]
    public var metrics: ContinualMetrics
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
    /// The paper's Table 2 cells for this dataset (labelled as published; nothing is computed from them).
    public var published: [PublishedResultRecord]
}

public struct Comparison: Codable, Sendable, Equatable {
    public var `protocol`: Protocol
    public var split: Split
    public var datasets: [DatasetComparison]
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

extension ContinualSession {
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
        return Comparison(protocol: evaluationProtocol, split: split, datasets: datasets)
    }

    func compareDataset(_ name: String, split: Split, protocol evaluationProtocol: Protocol) throws -> DatasetComparison {
        let datasetRecord = try store.resolveDataset(name)
        let stages = try store.stages(of: datasetRecord.id!)
        let snapshots = try store.snapshots(dataset: name)
        guard !snapshots.isEmpty else { throw CompareError.noSnapshots(dataset: name) }
        let published = try store.publishedResults(table: 2).filter { PublishedNames.key($0.columnName) == PublishedNames.key(name) }
        func publishedCell(_ method: Method, _ stage: String) -> Double? {
            guard let paperName = PublishedNames.methods[method] else { return nil }
            return published.first { $0.method == paperName && $0.setting == stage }?.value
        }
        var sampleCounts: [Int] = []
        for stage in stages { sampleCounts.append(try store.samples(stage: stage.id!, split: split).count) }
        var zeroShot: [Double?] = stages.map { _ in nil }
        var methods: [MethodComparison] = []
        for method in Method.allCases {
            guard let latest = snapshots.last(where: { $0.method == method }) else { continue }
            let chain = try store.lineage(of: latest.id)
            // The newest snapshot of the chain for each stage the method reached.
            var trainers: [Int64] = []
            for stage in stages {
                guard let trainer = chain.first(where: { $0.stageId == stage.id }) else { break }
                trainers.append(trainer.id!)
            }
            guard !trainers.isEmpty else { continue }
            let reached = trainers.count
            var matrix = [[Double?]](repeating: [Double?](repeating: nil, count: reached), count: reached)
            var last: SnapshotEvaluation?
            for (t, id) in trainers.enumerated() {
                let evaluation = try evaluateIfPossible(snapshot: id, split: split, protocol: evaluationProtocol)
                for (k, entry) in (evaluation?.stages ?? []).enumerated() where k < reached {
                    matrix[t][k] = entry.accuracy
                    if zeroShot[k] == nil { zeroShot[k] = entry.baseline }
                }
                // The next stage before it is trained: this snapshot with CLIP's words for its classes.
                if t + 1 < reached {
                    matrix[t][t + 1] = try accuracyBeforeTraining(snapshot: id, stage: stages[t + 1], split: split,
                                                                  protocol: evaluationProtocol)
                }
                last = evaluation
            }
            let r = AccuracyMatrix(matrix)
            let final = last?.stages ?? []
            let rows = (0..<reached).map { k -> StageComparison in
                let own = matrix[k][k], after = k < final.count ? final[k].accuracy : nil
                return StageComparison(stage: stages[k].name, afterOwnTraining: own, afterLastStage: after,
                                       degradation: own.flatMap { o in after.map { $0 - o } },
                                       published: publishedCell(method, stages[k].name))
            }
            methods.append(MethodComparison(method: method, snapshots: trainers, matrix: r, stages: rows,
                                            metrics: ContinualMetrics(r, sampleCounts: Array(sampleCounts.prefix(reached)),
                                                                      baselines: Array(zeroShot.prefix(reached)))))
        }
        return DatasetComparison(dataset: name, stages: stages.map(\.name), sampleCounts: sampleCounts, zeroShot: zeroShot,
                                 zeroShotPublished: stages.map { publishedCell(.zeroshot, $0.name) },
                                 methods: methods, published: published)
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
