import CLIP
import Foundation
import Images
import Store

/// How a stage's images become image features.
public struct ImageEncodingOptions: Sendable {
    /// Augmented views (random resized crop and flip) stored per training image instead of its
    /// centre crop, as the official training augments; 0 keeps the centre crop. Evaluation rows
    /// always use the centre crop.
    public var views: Int = 0
    /// The most augmented views per image accepted.
    public static let maximumViews = 64
    /// Seed of the augmentations.
    public var seed: UInt64 = 1
    /// Report a corrupt or unsupported image and leave its rows out, instead of failing.
    public var skipBadImages = false

    public init(views: Int = 0, seed: UInt64 = 1, skipBadImages: Bool = false) {
        self.views = views
        self.seed = seed
        self.skipBadImages = skipBadImages
    }
}

public enum ImageEncodingEvent: Sendable {
    case progress(done: Int, total: Int, imagesPerSecond: Double, remaining: Double)
    case skipped(ImageError)
}

/// What encoding a stage's images produced.
struct EncodedImages {
    var data: StageData
    /// Features computed now, to be cached with the stage.
    var computed: [ImageFeatureKey: [Float]]
    var reused: Int
    var skipped: [ImageError]
}

extension ContinualSession {
    /// The store model's image tower, loaded on first use.
    func visionTower() throws -> VisionTower {
        if let tower = visionTowerCache { return tower }
        let tower = try VisionTower(directory: modelDirectory)
        visionTowerCache = tower
        return tower
    }

    /// Encodes every image a stage's rows name (once per file content and view, reusing features
    /// cached in the store), in batches through the image tower.
    func encodeImages(_ input: StageData, options: ImageEncodingOptions,
                      progress: ((ImageEncodingEvent) -> Void)? = nil) throws -> EncodedImages {
        let tower = try visionTower()
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let seed = Int64(bitPattern: options.seed)
        // Read each file once and hash its content.
        var contents: [String: (data: Data, sha256: String)] = [:]
        var skipped: [ImageError] = []
        var bad = Set<String>()
        for path in Set(input.samples.filter { $0.feature.isEmpty }.compactMap(\.imagePath)).sorted() {
            do {
                let data = try ImageDecoder.contents(ofFile: path)
                contents[path] = (data, FloatBlob.sha256(data))
            } catch let error as ImageError {
                guard options.skipBadImages else { throw error }
                skipped.append(error)
                bad.insert(path)
                progress?(.skipped(error))
            }
        }
        // The rows after encoding: training rows become `views` augmented rows each.
        var rows: [(sample: NewSample, key: ImageFeatureKey?)] = []
        for sample in input.samples {
            guard sample.feature.isEmpty, let path = sample.imagePath else {
                rows.append((sample, nil))
                continue
            }
            guard let content = contents[path] else { continue }
            let views = sample.split == .train && options.views > 0 ? Array(1...options.views) : [0]
            for view in views {
                var row = sample
                row.imageSha256 = content.sha256
                row.view = view
                rows.append((row, ImageFeatureKey(contentSha256: content.sha256, view: view, seed: view == 0 ? 0 : seed)))
            }
        }
        let wanted = rows.compactMap { row in row.key.map { (sample: row.sample, key: $0) } }
        let keys = Array(Set(wanted.map(\.key)))
        var features = try store.cachedImageFeatures(keys)
        let reused = features.count
        var missing = keys.filter { features[$0] == nil }.sorted { ($0.contentSha256, $0.view) < ($1.contentSha256, $1.view) }
        let pathOf = Dictionary(wanted.map { ($0.key.contentSha256, $0.sample.imagePath!) }, uniquingKeysWith: { a, _ in a })
        var computed: [ImageFeatureKey: [Float]] = [:]
        let start = Date()
        var done = 0
        let total = missing.count
        let d = dimension
        while !missing.isEmpty {
            let batch = Array(missing.prefix(16))
            missing.removeFirst(batch.count)
            var pixels: [Float] = []
            var encoded: [ImageFeatureKey] = []
            for key in batch {
                let path = pathOf[key.contentSha256]!
                guard !bad.contains(path) else { continue }
                do {
                    let image = try ImageDecoder.decode(contents[path]!.data, name: path)
                    if key.view == 0 {
                        pixels += preprocessing.pixels(image)
                    } else {
                        // Each view draws from its own generator, so a view is the same whatever else is encoded with it.
                        var random = SplitMix64(seed: options.seed ^ UInt64(key.contentSha256.prefix(16), radix: 16)! &+ UInt64(key.view) &* 0x9E37_79B9_7F4A_7C15)
                        pixels += preprocessing.augmentedPixels(image, random: &random)
                    }
                    encoded.append(key)
                } catch let error as ImageError {
                    guard options.skipBadImages else { throw error }
                    skipped.append(error)
                    bad.insert(path)
                    progress?(.skipped(error))
                }
            }
            if !encoded.isEmpty {
                let out = try tower.encode(pixels: pixels, count: encoded.count)
                for (i, key) in encoded.enumerated() { computed[key] = Array(out[(i * d)..<((i + 1) * d)]) }
            }
            done += batch.count
            let elapsed = Date().timeIntervalSince(start)
            progress?(.progress(done: done, total: total, imagesPerSecond: Double(done) / max(elapsed, 1e-9),
                                remaining: elapsed / Double(done) * Double(total - done)))
        }
        features.merge(computed) { a, _ in a }
        var output = input
        output.samples = rows.compactMap { sample, key in
            guard let key else { return sample }
            guard !bad.contains(sample.imagePath!) else { return nil }
            var row = sample
            row.feature = features[key]!
            return row
        }
        return EncodedImages(data: output, computed: computed, reused: reused, skipped: skipped)
    }
}
