// `lamm-store reproduce --snapshot N`: trains snapshot N's stage again from what the store
// recorded (its parent, stage, training options and manifest) in a scratch copy of the store,
// and says whether the label rows (and CoOp's context, MaPLe's prompts) come out bit-identical.
// Training is deterministic at the same precision and thread count: every random draw comes
// from the recorded seed, and the products split their work the same way. Another thread
// count splits OpenBLAS's sums differently, and bf16 another CPU may round differently, so the
// report says when those differ from the manifest's.

import Foundation
import Kernels
import Methods
import Store
import Training

public struct ReproduceReport: Codable, Sendable, Equatable {
    public struct Difference: Codable, Sendable, Equatable {
        /// A class name, `context`, or a prompt tensor's name.
        public var name: String
        public var values: Int
        public var differing: Int
        public var maxAbsoluteDifference: Double
    }

    public var snapshot: Int64
    public var method: Method
    public var stage: String
    /// Trained values compared (label rows, context, prompt tensors).
    public var values: Int
    public var identical: Bool
    public var differences: [Difference]
    /// Whether the training rows drawn again are those of the manifest.
    public var sameTrainingRows: Bool
    public var recordedPrecision: String
    public var recordedThreads: Int
    public var threads: Int
    /// What can make training differ, when the recorded run's conditions are not today's.
    public var notes: [String]
    public var seconds: Double
}

public enum ReproduceError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case noManifest(snapshot: Int64)
    case untrained(snapshot: Int64)

    public var description: String {
        switch self {
        case let .noManifest(snapshot):
            return "snapshot \(snapshot) was written before snapshots recorded their manifest, so what it was trained on is not known exactly. Train it again with add-classes or sweep."
        case let .untrained(snapshot):
            return "snapshot \(snapshot) is zero-shot CLIP: its rows are CLIP's words, nothing was trained to reproduce."
        }
    }

    public var errorDescription: String? { description }
}

extension ContinualSession {
    /// Reproduces snapshot `id` in a scratch copy of the store (this store is only read).
    public func reproduce(snapshot id: Int64, progress: ((AddStageEvent) -> Void)? = nil) throws -> ReproduceReport {
        let record = try store.snapshotRecord(id)
        let summary = try store.snapshotSummary(id)
        guard let configuration = record.configuration, let manifest = configuration.manifest else { throw ReproduceError.noManifest(snapshot: id) }
        guard summary.method != .zeroshot, let lamm = configuration.lamm else { throw ReproduceError.untrained(snapshot: id) }
        let stored = try store.labelRows(snapshot: id)
        let storedContext = try record.contextVectorsId.flatMap { try store.contextVectors($0) }
        let storedPrompts = try store.promptTensors(snapshot: id)

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-reproduce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let copy = try LabelStore.open(path: scratch.appendingPathComponent("copy.sqlite").path, access: .create)
        defer { try? copy.close() }
        _ = try store.copy(to: copy)
        let session = try ContinualSession(store: copy, modelDirectory: modelDirectory)

        let stageData = try copy.registeredStageData(stage: record.stageId)
        var request = AddStageRequest(csv: URL(fileURLWithPath: configuration.stageFile), csvName: configuration.stageFile, features: nil,
                                      featuresName: nil, dataset: summary.dataset, stage: summary.stage, method: summary.method,
                                      trainingProtocol: configuration.trainingProtocol, configuration: lamm)
        request.data = stageData
        request.run = summary.run
        request.fixedParent = .some(record.parentId)
        let start = Date()
        let writer = session.writer
        let plan = try writer.planStage(request, after: [], progress: progress)
        let prepared = try writer.train(plan, after: nil, progress: progress)
        let rows = plan.trainingRows.flatMap { $0 }.sorted()

        // Bit for bit: the stored rows of the classes this snapshot trained, against the new ones.
        var differences: [ReproduceReport.Difference] = []
        var values = 0
        func compare(_ name: String, _ a: [Float], _ b: [Float]) {
            values += a.count
            let differing = a.count != b.count ? max(a.count, b.count) : zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
            guard differing > 0 else { return }
            let largest = a.count != b.count ? Double.infinity : zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
            differences.append(.init(name: name, values: a.count, differing: differing, maxAbsoluteDifference: largest))
        }
        let trained = prepared.commit.snapshot?.trained ?? [:]
        for row in stored where row.stage.id == record.stageId {
            compare(row.classRecord.name, row.vectors.values, trained[row.classRecord.name]?.values ?? [])
        }
        let parentContext = try record.parentId.flatMap { try store.snapshotRecord($0).contextVectorsId }
        if let storedContext, record.contextVectorsId != parentContext {
            compare("context", storedContext.values, prepared.context?.values ?? [])
        }
        let newPrompts = prepared.commit.snapshot?.promptTensors ?? []
        for tensor in storedPrompts {
            compare(tensor.name, tensor.values, newPrompts.first { $0.name == tensor.name }?.values ?? [])
        }

        var notes: [String] = []
        let threads = blasThreadCount()
        if threads != manifest.threads {
            notes.append("recorded with \(manifest.threads) OpenBLAS thread(s), reproduced with \(threads): products split their sums otherwise, so the last bits may differ")
        }
        if manifest.precision != lamm.towerPrecision.rawValue || (lamm.precision == .bf16 && !BF16Support.isAvailable) {
            notes.append("recorded in \(manifest.precision); this CPU runs \(BF16Support.resolve(lamm.towerPrecision).precision.rawValue)")
        }
        if manifest.lammStoreVersion != lammStoreVersion {
            notes.append("recorded by lamm-store \(manifest.lammStoreVersion), reproduced by \(lammStoreVersion)")
        }
        if manifest.checkpointSha256 != features.model.weightsSha256 {
            notes.append("recorded with checkpoint \(manifest.checkpointSha256.prefix(12)), the store is bound to \(features.model.weightsSha256.prefix(12))")
        }
        return ReproduceReport(snapshot: id, method: summary.method, stage: summary.stage, values: values, identical: differences.isEmpty,
                               differences: differences, sameTrainingRows: rows == manifest.trainingRows,
                               recordedPrecision: manifest.precision, recordedThreads: manifest.threads, threads: threads,
                               notes: notes, seconds: Date().timeIntervalSince(start))
    }
}
