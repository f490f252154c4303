// What a snapshot's prompts give: text features of label rows (CLIP's own, stored, or under a
// snapshot's context or MaPLe prompts) and image features (stored CLIP features, or through a
// MaPLe snapshot's prompted image tower), computed through the session's towers and cached in
// the store. The stage writer, the evaluator and the classifier all read features here.

import CLIP
import Evaluation
import Foundation
import Kernels
import Methods
import Store
import Training

/// The store's CLIP model and the features computed with it.
public final class SnapshotFeatures {
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
    /// The towers of bf16 training runs (everything the store keeps is computed by the fp32 ones).
    var bf16TowerCache: (text: TextTower?, vision: VisionTower?) = (nil, nil)

    init(store: LabelStore, model: ModelRecord, checkpoint: CLIPCheckpoint, modelDirectory: URL) throws {
        self.store = store
        self.model = model
        self.checkpoint = checkpoint
        self.modelDirectory = modelDirectory
        tokenizer = try CLIPTokenizer(directory: modelDirectory, tokenEmbeddingRows: checkpoint.configuration.text.vocabularySize)
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

    /// A trainer of `method` over the session's towers (the image tower only for methods that prompt it).
    /// A trainer in the configuration's precision: the fp32 towers, or bf16 copies of them
    /// (made on first use and kept for the session's later stages).
    func trainer(_ configuration: LAMMConfiguration, method: Method) throws -> Trainer {
        guard BF16Support.resolve(configuration.towerPrecision).precision == .bf16 else {
            return Trainer(checkpoint: checkpoint, text: tower, vision: method.promptsBothTowers ? try visionTower() : nil,
                           template: template, configuration: configuration, method: method)
        }
        let text = bf16TowerCache.text ?? TextTower(checkpoint, precision: .bf16)
        bf16TowerCache.text = text
        var vision: VisionTower?
        if method.promptsBothTowers {
            let fp32 = try visionTower()
            vision = bf16TowerCache.vision ?? VisionTower(configuration: fp32.configuration, weights: fp32.weights, precision: .bf16)
            bf16TowerCache.vision = vision
        }
        return Trainer(checkpoint: checkpoint, text: text, vision: vision, template: template, configuration: configuration, method: method)
    }
}

/// Context vectors as stored, with the id that keys their cached text features.
struct StoredContext {
    var id: Int64
    var vectors: TokenVectors
}
