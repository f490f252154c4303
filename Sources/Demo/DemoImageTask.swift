// The demo's image task: the classes of DemoTask as synthetic pictures, encoded by the demo
// checkpoint's own image tower, so that MaPLe (which trains prompts inside that tower) can run
// beside the other methods.
//
// Each class has a look: a base colour and a stripe pattern (a spatial frequency and direction
// per channel). A picture of the class is that look with a random phase and per-pixel noise,
// written as a PNG of 40 x 40 pixels; CLIP's preprocessing resizes and crops it to the tower's 32.
//
// The image tower has random weights, so on its own its features would have nothing to do with
// the text tower's. Like CLIP's contrastive training, but in closed form, the demo fits the
// tower's last layer, visual_projection, so that pictures of each class land near that class's
// *shifted* text feature f_i of DemoTask (the one its feature task draws image features around):
// P = argmin sum_x |P h_x - f_c(x)|^2 + lambda |P|^2 over pictures x drawn for the fit (their own,
// not the stage files'), h_x the class token after post_layernorm, whose bias is first moved so
// that the h_x average 0. Zero-shot CLIP (the class
// names' prompts) is then mediocre on the pictures, as on the feature task, and a method that
// learns from them can do better. The fit leaves each picture's phase and noise as a spread
// around f_c, and a random resized crop (MaPLe's training views) moves it further.

import CLIP
import Evaluation
import Foundation
import Formats
import Images
import Kernels

/// One class's look: base colour and stripes, in [0, 1] intensities.
struct ClassLook: Sendable {
    var base: [Float]  // [3]
    var amplitude: [Float]  // [3]
    var frequency: (x: Float, y: Float)  // cycles per picture
}

public struct DemoImageTask: Sendable {
    public static let pictureSide = 40
    /// Per-pixel noise (standard deviation, in [0, 1] intensity) of a picture.
    public static let defaultPixelNoise: Float = 0.1
    /// The ridge of the projection fit, relative to the mean squared norm of the h_c.
    static let ridge: Float = 1e-3

    let looks: [ClassLook]
    public let classNames: [String]
    public let trainShots: Int
    public let testShots: Int
    /// Set1 and Set2 as DemoTask has them: class indices per stage.
    public let stageClasses: [[Int]]
    /// The image tower with its fitted visual_projection.
    public let vision: CLIPVisionWeights
    let seed: UInt64

    /// Draws the looks and the tower's random weights from `seed`, and fits visual_projection to
    /// `task`'s shifted text features.
    public init(task: DemoTask, configuration: CLIPConfiguration, trainShots: Int = 8, testShots: Int = 10,
                seed: UInt64 = DemoTask.defaultSeed) throws {
        guard trainShots > 0, testShots > 0 else { throw DemoError.invalidShots(train: trainShots, test: testShots) }
        var rng = SplitMix64(seed: seed &+ 0x1_0000)
        let looks = task.classNames.map { _ in
            ClassLook(base: (0..<3).map { _ in Float.random(in: 0.2...0.8, using: &rng) },
                      amplitude: (0..<3).map { _ in Float.random(in: 0.05...0.2, using: &rng) },
                      frequency: (Float(Int.random(in: 1...4, using: &rng)), Float(Int.random(in: -3...3, using: &rng))))
        }
        self.looks = looks
        self.classNames = task.classNames
        self.trainShots = trainShots
        self.testShots = testShots
        self.stageClasses = task.stages.map(\.classIndices)
        self.seed = seed

        // Random tower weights, then h_x of pictures drawn for the fit through the tower with an
        // identity projection.
        var weights = DemoCheckpoint.randomVision(configuration, seed: seed &+ 0x2_0000)
        let v = configuration.vision, w = v.hiddenSize, d = configuration.projectionDim
        var identity = configuration
        identity.projectionDim = w
        var identityWeights = weights
        identityWeights.visualProjection = (0..<(w * w)).map { $0 / w == $0 % w ? 1 : 0 }
        let pooled = VisionTower(configuration: identity, weights: identityWeights)
        let preprocessing = CLIPPreprocessing(imageSize: v.imageSize)
        var pictures: [RGBImage] = [], targets: [Float] = []
        for (c, look) in looks.enumerated() {
            for _ in 0..<Self.fitPictures {
                pictures.append(Self.picture(look, phase: Float.random(in: 0..<(2 * .pi), using: &rng), noise: Self.defaultPixelNoise, random: &rng))
                targets += task.trueTextFeatures[(c * d)..<((c + 1) * d)]
            }
        }
        var h = try pooled.encode(pixels: pictures.flatMap(preprocessing.pixels), count: pictures.count)
        // A random tower's class tokens share one large component; post_layernorm's bias takes
        // it out (h - mean h), so the fit sees what tells the pictures apart.
        for i in 0..<w {
            let mean = stride(from: i, to: h.count, by: w).map { h[$0] }.reduce(0, +) / Float(pictures.count)
            weights.postLayerNormBias[i] -= mean
            for r in 0..<pictures.count { h[r * w + i] -= mean }
        }
        weights.visualProjection = Self.fitProjection(h: h, targets: targets, rows: pictures.count, width: w, dimension: d)
        self.vision = weights
    }

    /// Pictures per class the projection is fitted on.
    static let fitPictures = 16

    /// A picture of a class: its look at `phase` plus per-pixel noise.
    static func picture(_ look: ClassLook, phase: Float, noise: Float, random: inout SplitMix64) -> RGBImage {
        let side = pictureSide
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            for x in 0..<side {
                let angle = 2 * Float.pi * (look.frequency.x * Float(x) + look.frequency.y * Float(y)) / Float(side) + phase
                for c in 0..<3 {
                    let value = look.base[c] + look.amplitude[c] * Foundation.sin(angle + Float(c)) + noise * random.nextGaussian()
                    pixels[(y * side + x) * 3 + c] = UInt8((255 * min(max(value, 0), 1)).rounded())
                }
            }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    /// P [D, W] solving (H^T H + lambda I) P^T = H^T F: the ridge regression of the targets F
    /// [N, D] on the rows of H [N, W], lambda relative to H's mean squared row norm.
    static func fitProjection(h: [Float], targets: [Float], rows n: Int, width w: Int, dimension d: Int) -> [Float] {
        var gram = [Double](repeating: 0, count: w * w), rhs = [Double](repeating: 0, count: w * d)
        for r in 0..<n {
            for i in 0..<w {
                let hi = Double(h[r * w + i])
                for j in 0..<w { gram[i * w + j] += hi * Double(h[r * w + j]) }
                for k in 0..<d { rhs[i * d + k] += hi * Double(targets[r * d + k]) }
            }
        }
        let lambda = Double(ridge) * (0..<w).map { gram[$0 * w + $0] }.reduce(0, +) / Double(n)
        for i in 0..<w { gram[i * w + i] += lambda }
        // Cholesky G = L L^T, then P^T = G^-1 (H^T F) column by column.
        var l = [Double](repeating: 0, count: w * w)
        for i in 0..<w {
            for j in 0...i {
                var sum = gram[i * w + j]
                for t in 0..<j { sum -= l[i * w + t] * l[j * w + t] }
                l[i * w + j] = i == j ? sum.squareRoot() : sum / l[j * w + j]
            }
        }
        var projection = [Float](repeating: 0, count: d * w)
        for k in 0..<d {
            var y = [Double](repeating: 0, count: w), x = [Double](repeating: 0, count: w)
            for i in 0..<w {
                var sum = rhs[i * d + k]
                for t in 0..<i { sum -= l[i * w + t] * y[t] }
                y[i] = sum / l[i * w + i]
            }
            for i in stride(from: w - 1, through: 0, by: -1) {
                var sum = y[i]
                for t in (i + 1)..<w { sum -= l[t * w + i] * x[t] }
                x[i] = sum / l[i * w + i]
            }
            for i in 0..<w { projection[k * w + i] = Float(x[i]) }
        }
        return projection
    }

    /// Writes every stage's pictures (`images/<class>_<split>_<n>.png`) and `<stage>-images.csv`
    /// (`class,split,image`, paths relative to the CSV) into `directory`.
    public func write(to directory: URL, noise: Float = defaultPixelNoise) throws -> [DemoStageFiles] {
        let images = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: seed &+ 0x3_0000)
        return try stageClasses.enumerated().map { s, classes in
            var text = "class,split,image\n"
            for c in classes {
                let stem = classNames[c].replacingOccurrences(of: " ", with: "-")
                for split in [DemoSplit.train, .test] {
                    for n in 0..<(split == .train ? trainShots : testShots) {
                        let picture = Self.picture(looks[c], phase: Float.random(in: 0..<(2 * .pi), using: &rng), noise: noise, random: &rng)
                        let name = "\(stem)_\(split.rawValue)_\(n).png"
                        try PNGEncoder.encode(picture).write(to: images.appendingPathComponent(name))
                        text += "\(csvField(classNames[c])),\(split.rawValue),images/\(name)\n"
                    }
                }
            }
            let csv = directory.appendingPathComponent("set\(s + 1)-images.csv")
            try DemoFiles.write(Data(text.utf8), to: csv)
            return DemoStageFiles(stage: "set\(s + 1)", classNames: classes.map { classNames[$0] }, csv: csv, features: nil)
        }
    }
}
