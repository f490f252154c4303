import CLIP
import Formats
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

extension SnapshotFeatures {
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
        var files = try readImages(Set(input.samples.filter { $0.feature.isEmpty }.compactMap(\.imagePath)).sorted(),
                                   options: options, progress: progress)
        let rows = imageRows(input, files: files, options: options)
        let keys = Set(rows.compactMap(\.key)).sorted { ($0.contentSha256, $0.view) < ($1.contentSha256, $1.view) }
        let cached = try store.imageFeatureCache().features(keys) { missing in
            try encode(missing, files: &files, options: options, progress: progress)
        }
        let features = cached.features
        var output = input
        output.samples = rows.compactMap { sample, key in
            guard let key else { return sample }
            guard !files.bad.contains(sample.imagePath!) else { return nil }
            var row = sample
            row.feature = features[key]!
            return row
        }
        return EncodedImages(data: output, computed: cached.computed, reused: cached.reused, skipped: files.skipped)
    }

    /// The image files of a stage, each read once and hashed, and those that could not be read.
    struct ImageFiles {
        var contents: [String: (data: Data, sha256: String)] = [:]
        var skipped: [ImageError] = []
        var bad = Set<String>()
        /// The content SHA-256's file, for the features still to compute.
        var pathOf: [String: String] = [:]

        /// Notes a file that cannot be used, or throws when bad images are not to be skipped.
        mutating func skip(_ error: ImageError, path: String, options: ImageEncodingOptions,
                           progress: ((ImageEncodingEvent) -> Void)?) throws {
            guard options.skipBadImages else { throw error }
            skipped.append(error)
            bad.insert(path)
            progress?(.skipped(error))
        }
    }

    func readImages(_ paths: [String], options: ImageEncodingOptions, progress: ((ImageEncodingEvent) -> Void)?) throws -> ImageFiles {
        var files = ImageFiles()
        for path in paths {
            do {
                let data = try ImageDecoder.contents(ofFile: path)
                let sha256 = FloatBlob.sha256(data)
                files.contents[path] = (data, sha256)
                if files.pathOf[sha256] == nil { files.pathOf[sha256] = path }
            } catch let error as ImageError {
                try files.skip(error, path: path, options: options, progress: progress)
            }
        }
        return files
    }

    /// The rows after encoding, each with the feature it needs: training rows become `views`
    /// augmented rows each; rows with stored features need none.
    func imageRows(_ input: StageData, files: ImageFiles, options: ImageEncodingOptions) -> [(sample: Sample, key: ImageFeatureKey?)] {
        let seed = Int64(bitPattern: options.seed)
        var rows: [(sample: Sample, key: ImageFeatureKey?)] = []
        for sample in input.samples {
            guard sample.feature.isEmpty, let path = sample.imagePath else {
                rows.append((sample, nil))
                continue
            }
            guard let content = files.contents[path] else { continue }
            let views = sample.split == .train && options.views > 0 ? Array(1...options.views) : [0]
            for view in views {
                var row = sample
                row.imageSha256 = content.sha256
                row.view = view
                rows.append((row, ImageFeatureKey(contentSha256: content.sha256, view: view, seed: view == 0 ? 0 : seed)))
            }
        }
        return rows
    }

    /// Features of the images and views `keys` name, 16 at a time through the image tower; a
    /// file that fails to decode is skipped (or thrown) as the options say.
    func encode(_ keys: [ImageFeatureKey], files: inout ImageFiles, options: ImageEncodingOptions,
                progress: ((ImageEncodingEvent) -> Void)?) throws -> [ImageFeatureKey: [Float]] {
        let tower = try visionTower()
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let d = dimension
        var computed: [ImageFeatureKey: [Float]] = [:]
        let start = Date()
        for batchStart in stride(from: 0, to: keys.count, by: 16) {
            let batch = keys[batchStart..<min(batchStart + 16, keys.count)]
            var pixels: [Float] = []
            var encoded: [ImageFeatureKey] = []
            for key in batch {
                let path = files.pathOf[key.contentSha256]!
                guard !files.bad.contains(path) else { continue }
                do {
                    let image = try ImageDecoder.decode(files.contents[path]!.data, name: path)
                    if key.view == 0 {
                        pixels += preprocessing.pixels(image)
                    } else {
                        // Each view draws from its own generator, so a view is the same whatever else is encoded with it.
                        var random = SplitMix64(seed: options.seed ^ UInt64(key.contentSha256.prefix(16), radix: 16)! &+ UInt64(key.view) &* 0x9E37_79B9_7F4A_7C15)
                        pixels += preprocessing.augmentedPixels(image, random: &random)
                    }
                    encoded.append(key)
                } catch let error as ImageError {
                    try files.skip(error, path: path, options: options, progress: progress)
                    // Other files of the same content fail alike.
                    for (other, content) in files.contents where content.sha256 == key.contentSha256 { files.bad.insert(other) }
                }
            }
            if !encoded.isEmpty {
                let out = try tower.encode(pixels: pixels, count: encoded.count)
                for (i, key) in encoded.enumerated() { computed[key] = Array(out[(i * d)..<((i + 1) * d)]) }
            }
            let done = batchStart + batch.count
            let elapsed = Date().timeIntervalSince(start)
            progress?(.progress(done: done, total: keys.count, imagesPerSecond: Double(done) / max(elapsed, 1e-9),
                                remaining: elapsed / Double(done) * Double(keys.count - done)))
        }
        return computed
    }
}
