import CLIP
import Foundation
import Store
import Training

/// A store opened with its CLIP model, in four parts:
/// - `features` (SnapshotFeatures.swift): text and image features of snapshots, cached in the store;
/// - `writer` (StageWriter: AddStage, StageTraining, ImportSplit, Sweep): plans, trains and writes stages;
/// - `evaluator` (SnapshotEvaluator: EvaluateSnapshot, CrossDataset, and Reports' Comparison): scores snapshots;
/// - `classifier` (Classifier: Classify, SnapshotClassifier): ranks new inputs, lays a snapshot out for export.
public final class ContinualSession: SessionPart {
    public let features: SnapshotFeatures
    public let writer: StageWriter
    public var evaluator: SnapshotEvaluator { SnapshotEvaluator(features: features) }
    public var classifier: Classifier { Classifier(features: features) }

    public var model: ModelRecord { features.model }
    public var tower: TextTower { features.tower }
    public var modelDirectory: URL { features.modelDirectory }

    /// Loads the store's model (from `modelDirectory` if given, else the directory recorded at
    /// `init`) and checks that it is the checkpoint the store is bound to.
    public init(store: LabelStore, modelDirectory: URL? = nil) throws {
        let model = try store.requireModel()
        let directory = modelDirectory ?? URL(fileURLWithPath: model.directory)
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw ContinualError.modelDirectoryMissing(directory: directory.path)
        }
        let files = try CLIPCheckpointFiles(directory: directory)
        let sha = try sha256(ofFile: files.weights)
        let config = try String(contentsOf: files.configurationFile, encoding: .utf8)
        guard sha == model.weightsSha256, config == model.configJson else {
            throw StoreError.modelMismatch(path: store.path, bound: model.directory, boundSha256: model.weightsSha256,
                                           given: directory.path, givenSha256: sha)
        }
        features = try SnapshotFeatures(store: store, model: model, checkpoint: try CLIPCheckpoint(directory: directory),
                                        modelDirectory: directory)
        writer = StageWriter(features: features)
    }
}

/// Plans a stage against the store, trains it and writes its snapshot.
public final class StageWriter: SessionPart {
    public let features: SnapshotFeatures
    /// Called at fixed points of adding a stage, so that tests can interleave writers exactly.
    public var hooks = WriteHooks()

    public struct WriteHooks {
        /// Inside the plan's one read of the store, between looking up the stage and the parent.
        public var planning: (() throws -> Void)?
        /// After training, before the commit takes the write lock.
        public var beforeCommit: (() throws -> Void)?

        public init() {}
    }

    init(features: SnapshotFeatures) { self.features = features }
}

/// Scores snapshots on their stages, on other datasets, and against each other.
public struct SnapshotEvaluator: SessionPart {
    public let features: SnapshotFeatures
}

/// Ranks new inputs among a snapshot's classes.
public struct Classifier: SessionPart {
    public let features: SnapshotFeatures
}

/// A part of the session: reads the store and computes through `features`.
public protocol SessionPart {
    var features: SnapshotFeatures { get }
}

extension SessionPart {
    public var store: LabelStore { features.store }
    public var checkpoint: CLIPCheckpoint { features.checkpoint }
    public var template: PromptTemplate { features.template }
    public var tokenizer: CLIPTokenizer { features.tokenizer }
    var dimension: Int { features.dimension }
    var width: Int { features.width }
}
