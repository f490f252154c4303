// Features the store keeps so they are computed once: text features of label rows (per
// context), CLIP image features of image contents (per view), and image features through a
// snapshot's MaPLe prompts. Every one is used the same way: look up what is cached, compute the
// missing ones, offer them to the store, merge.

/// A cache of features by key, backed by the store.
public struct FeatureCache<Key: Hashable> {
    /// The cached features of these keys (absent ones left out).
    var lookup: ([Key]) throws -> [Key: [Float]]
    /// Offers computed features to the store (which may keep them now or later, or not at all:
    /// image features are written with the stage's commit).
    var save: ([Key: [Float]]) throws -> Void

    public init(lookup: @escaping ([Key]) throws -> [Key: [Float]], save: @escaping ([Key: [Float]]) throws -> Void) {
        self.lookup = lookup
        self.save = save
    }

    public struct Result {
        /// Every key's feature.
        public var features: [Key: [Float]]
        /// The features computed now (already offered to the store).
        public var computed: [Key: [Float]]
        /// How many keys the store already had.
        public var reused: Int
    }

    /// The features of `keys`: the cached ones, and `compute` of the missing ones, in the order
    /// of `keys`. A key `compute` leaves out stays absent from the result.
    public func features(_ keys: [Key], compute: ([Key]) throws -> [Key: [Float]]) throws -> Result {
        var features = try lookup(keys)
        let reused = features.count
        var seen = Set<Key>()
        let missing = keys.filter { features[$0] == nil && seen.insert($0).inserted }
        let computed = missing.isEmpty ? [:] : try compute(missing)
        try save(computed)
        features.merge(computed) { cached, _ in cached }
        return Result(features: features, computed: computed, reused: reused)
    }
}

extension LabelStore {
    /// Text features of label rows, by label-embedding id, with the context `contextKey` (0 for none).
    public func textFeatureCache(contextKey: Int64) -> FeatureCache<Int64> {
        FeatureCache(lookup: { try self.cachedTextFeatures(labelEmbeddingIds: $0, contextKey: contextKey) },
                     save: { try self.cacheTextFeatures($0, contextKey: contextKey) })
    }

    /// CLIP image features of image contents and views; new ones are written with the stage's commit.
    public func imageFeatureCache() -> FeatureCache<ImageFeatureKey> {
        FeatureCache(lookup: { try self.cachedImageFeatures($0) }, save: { _ in })
    }

    /// Image features through the prompt parameters keyed `promptSHA256`, by content SHA-256.
    public func promptedImageFeatureCache(promptSHA256: String) -> FeatureCache<String> {
        FeatureCache(lookup: { try self.cachedPromptedImageFeatures(contentSHA256s: $0, promptSHA256: promptSHA256) },
                     save: { try self.cachePromptedImageFeatures($0, promptSHA256: promptSHA256) })
    }
}
