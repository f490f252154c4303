import CLIP
import Evaluation
import Foundation
import Kernels
import Store
import Training

/// A store opened with its CLIP model: the text tower, tokenizer and prompt template that
/// adding stages and evaluating snapshots need.
public final class ContinualSession {
    public let store: LabelStore
    public let model: ModelRecord
    public let checkpoint: CLIPCheckpoint
    public let tokenizer: CLIPTokenizer
    public let tower: TextTower
    public let template: PromptTemplate
    /// The checkpoint directory (the image tower is loaded from it on first use).
    public let modelDirectory: URL
    /// psi(y_i) of CLIP's original prompts, encoded once per prompt.
    var clipFeatureCache = FrozenTextFeatures()
    var visionTowerCache: VisionTower?
    /// Called at fixed points of adding a stage, so that tests can interleave writers exactly.
    public var hooks = WriteHooks()

    public struct WriteHooks {
        /// Inside the plan's one read of the store, between looking up the stage and the parent.
        public var planning: (() throws -> Void)?
        /// After training, before the commit takes the write lock.
        public var beforeCommit: (() throws -> Void)?

        public init() {}
    }

    /// Loads the store's model (from `modelDirectory` if given, else the directory recorded at
    /// `init`) and checks that it is the checkpoint the store is bound to.
    public init(store: LabelStore, modelDirectory: URL? = nil) throws {
        self.store = store
        model = try store.requireModel()
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
        self.modelDirectory = directory
        checkpoint = try CLIPCheckpoint(directory: directory)
        tokenizer = try CLIPTokenizer(directory: directory, tokenEmbeddingRows: checkpoint.configuration.text.vocabularySize)
        tower = TextTower(checkpoint)
        template = PromptTemplate(tokenizer: tokenizer, contextLength: checkpoint.configuration.text.maxPositions)
    }

    var dimension: Int { checkpoint.configuration.projectionDim }
    var width: Int { checkpoint.configuration.text.hiddenSize }

    /// psi(y_i) of the classes' original prompts `a photo of a <class>.`, [C, D], normalised.
    func clipTextFeatures(_ classNames: [String]) throws -> [Float] {
        let ids = try classNames.map { template.tokenIDs(label: try template.label(for: $0, tokenizer: tokenizer).tokenIDs) }
        return l2Normalize(try clipFeatureCache.features(tokenIDs: ids, tower: tower), rows: ids.count, columns: dimension).out
    }

    /// psi(z_i) of prompts built from stored label rows (and a snapshot's context vectors, for
    /// CoOp), [C, D], normalised; read from the store's cache, the missing ones computed (in
    /// chunks) and cached.
    func textFeatures(_ rows: [SnapshotClassRow], context: StoredContext? = nil) throws -> [Float] {
        let vectors = Dictionary(rows.map { ($0.labelEmbeddingId, $0.vectors) }, uniquingKeysWith: { a, _ in a })
        let d = dimension
        let cached = try store.textFeatureCache(contextKey: context?.id ?? 0).features(rows.map(\.labelEmbeddingId)) { missing in
            let features = try promptFeatures(missing.map { vectors[$0]! }, context: context?.vectors)
            return Dictionary(uniqueKeysWithValues: missing.enumerated().map { ($1, Array(features[($0 * d)..<(($0 + 1) * d)])) })
        }
        return rows.flatMap { cached.features[$0.labelEmbeddingId]! }
    }

    /// psi(z) of `a photo of a <label vectors>.` (the context vectors in place of `a photo of a`
    /// when given), [C, D], normalised; computed in chunks of 64 prompts.
    func promptFeatures(_ labels: [TokenVectors], context: TokenVectors?) throws -> [Float] {
        let contextRows = context.map { (0..<$0.tokenCount).map { PromptRow.vector(index: $0) } }
        var result: [Float] = []
        for start in stride(from: 0, to: labels.count, by: 64) {
            var vectors: [Float] = context?.values ?? []
            var prompts: [PromptRows] = []
            for label in labels[start..<min(start + 64, labels.count)] {
                let first = vectors.count / width
                prompts.append(template.prompt(context: contextRows, label: (0..<label.tokenCount).map { .vector(index: first + $0) }))
                vectors += label.values
            }
            result += try tower.forward(prompts, vectors: vectors).normalizedFeatures
        }
        return result
    }

    /// CLIP's word embeddings of a class name as label vectors.
    func originalLabelVectors(_ className: String) throws -> TokenVectors {
        let ids = try template.label(for: className, tokenizer: tokenizer).tokenIDs
        return TokenVectors(tokenCount: ids.count, width: width, values: ids.flatMap { checkpoint.tokenEmbedding(row: $0) })
    }

    /// A snapshot's context vectors, if its method trains one.
    func context(ofSnapshot id: Int64) throws -> StoredContext? {
        let record = try store.snapshotRecord(id)
        guard let contextId = record.contextVectorsId, let vectors = try store.contextVectors(contextId) else { return nil }
        return StoredContext(id: contextId, vectors: vectors)
    }
}

/// Context vectors as stored, with the id that keys their cached text features.
struct StoredContext {
    var id: Int64
    var vectors: TokenVectors
}
