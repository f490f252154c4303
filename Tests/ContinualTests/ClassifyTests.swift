import CLIP
@testable import Continual
import Formats
import Foundation
import Images
import Store
import Testing
import Training

@Suite struct ClassifyTests {
    static let classes = ["dog", "cat", "bird", "fish", "frog"]

    /// Two zero-shot stages, so the snapshot's text features are CLIP's prompts of the class
    /// names, computed here from their token ids.
    func twoStages(_ w: Workspace) throws -> Int64 {
        for (name, classes, seed) in [("set1", ["dog", "cat", "bird"], UInt64(1)), ("set2", ["fish", "frog"], 2)] {
            var request = try w.stage(name, classes: classes, seed: seed)
            request.method = .zeroshot
            _ = try w.session.writer.addStage(request)
        }
        return try #require(try w.store.snapshots().last?.id)
    }

    func randomFeatures(_ rows: Int, dimension: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<(rows * dimension)).map { _ in random.nextGaussian() }
    }

    @Test func probabilitiesAreASoftmaxOfScaledCosinesAndTheTopClassIsTheClosest() throws {
        let w = try Workspace()
        let snapshot = try twoStages(w)
        let d = w.session.checkpoint.configuration.projectionDim
        let texts = try promptFeaturesFromTokenIDs(Self.classes, session: w.session)
        let images = randomFeatures(20, dimension: d, seed: 7)
        let results = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: images, count: 20, top: 5)
        #expect(results.map(\.input) == (0..<20).map { "row \($0)" })
        let expected = predictions(images, texts: texts, dimension: d)
        let scale = Double(w.session.checkpoint.logitScale)
        for (n, result) in results.enumerated() {
            #expect(Set(result.top.map(\.className)) == Set(Self.classes))
            #expect(abs(result.top.map { Double($0.probability) }.reduce(0, +) - 1) < 1e-5)
            #expect(zip(result.top, result.top.dropFirst()).allSatisfy { $0.probability >= $1.probability })
            #expect(result.top[0].className == Self.classes[expected[n]])
            // Every candidate's logit and probability against a softmax computed here in Double.
            let image = images[(n * d)..<((n + 1) * d)].map(Double.init)
            let norm = image.map { $0 * $0 }.reduce(0, +).squareRoot()
            let logits = (0..<Self.classes.count).map { c in
                scale * (0..<d).map { image[$0] * Double(texts[c * d + $0]) }.reduce(0, +) / norm
            }
            let sum = logits.map { exp($0 - logits.max()!) }.reduce(0, +)
            for candidate in result.top {
                let c = try #require(Self.classes.firstIndex(of: candidate.className))
                #expect(abs(Double(candidate.logit) - logits[c]) < 1e-3 * max(1, scale))
                #expect(abs(Double(candidate.probability) - exp(logits[c] - logits.max()!) / sum) < 1e-4)
                #expect(candidate.stage == (c < 3 ? "Set1" : "Set2"))
            }
        }
    }

    @Test func aClassesOwnTextFeatureIsClassifiedAsThatClass() throws {
        let w = try Workspace()
        let snapshot = try twoStages(w)
        let texts = try promptFeaturesFromTokenIDs(Self.classes, session: w.session)
        // Scaled: the image features need not be unit vectors.
        let rows = texts.map { 3 * $0 }
        let results = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: rows, count: Self.classes.count, top: 1)
        #expect(results.map { $0.top.map(\.className) } == Self.classes.map { [$0] })
        #expect(results.allSatisfy { abs($0.top[0].logit - w.session.checkpoint.logitScale) < 1e-3 * w.session.checkpoint.logitScale })
    }

    @Test func stagesRestrictTheLabelSpaceAndTopIsClampedToIt() throws {
        let w = try Workspace()
        let snapshot = try twoStages(w)
        let d = w.session.checkpoint.configuration.projectionDim
        let images = randomFeatures(6, dimension: d, seed: 3)
        let set2 = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: images, count: 6, stages: ["Set2"], top: 10)
        let texts = try promptFeaturesFromTokenIDs(["fish", "frog"], session: w.session)
        for (result, expected) in zip(set2, predictions(images, texts: texts, dimension: d)) {
            #expect(result.top.map(\.className).sorted() == ["fish", "frog"] && result.top.allSatisfy { $0.stage == "Set2" })
            #expect(abs(result.top.map(\.probability).reduce(0, +) - 1) < 1e-5)
            #expect(result.top[0].className == ["fish", "frog"][expected])
        }
        let all = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: images, count: 6, stages: ["Set2", "Set1"], top: 2)
        #expect(all.allSatisfy { $0.top.count == 2 })
        #expect(all.map { $0.top[0].className } == (try w.session.classifier.classify(snapshot: snapshot, imageFeatures: images, count: 6, top: 1)).map { $0.top[0].className })
        #expect(throws: ContinualError.unknownStages(snapshot: snapshot, names: ["Set3"], valid: ["Set1", "Set2"])) {
            try w.session.classifier.classify(snapshot: snapshot, imageFeatures: images, count: 6, stages: ["Set1", "Set3"])
        }
    }

    @Test func featureFilesAndImageFilesAreCheckedAndNamed() throws {
        let w = try Workspace()
        let snapshot = try twoStages(w)
        let d = w.session.checkpoint.configuration.projectionDim
        func npy(_ name: String, rows: Int, width: Int, poison: Float? = nil) throws -> URL {
            var values = randomFeatures(rows, dimension: width, seed: 11)
            if let poison { values[width + 2] = poison }
            let url = w.directory.appendingPathComponent(name)
            try NPY.write(FloatMatrix(rows: rows, columns: width, values: values), to: url)
            return url
        }
        let good = try npy("good.npy", rows: 3, width: d)
        let fromFile = try w.session.classifier.classify(snapshot: snapshot, featureFile: good, displayName: "good.npy", top: 2)
        let direct = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: try NPY.read(good).values, count: 3, top: 2)
        #expect(fromFile.map(\.input) == ["good.npy row 0", "good.npy row 1", "good.npy row 2"])
        #expect(fromFile.map(\.top) == direct.map(\.top))
        #expect(throws: StageImportError.featureWidth(file: "wide.npy", found: d + 1, expected: d)) {
            try w.session.classifier.classify(snapshot: snapshot, featureFile: try npy("wide.npy", rows: 2, width: d + 1), displayName: "wide.npy")
        }
        #expect(throws: StageImportError.nonFinite(file: "nan.npy", row: 1, column: 2, value: .infinity)) {
            try w.session.classifier.classify(snapshot: snapshot, featureFile: try npy("nan.npy", rows: 2, width: d, poison: .infinity), displayName: "nan.npy")
        }
        #expect(throws: StageImportError.zeroFeature(file: "zero.npy", row: 0)) {
            let url = w.directory.appendingPathComponent("zero.npy")
            try NPY.write(FloatMatrix(rows: 1, columns: d, values: [Float](repeating: 0, count: d)), to: url)
            try w.session.classifier.classify(snapshot: snapshot, featureFile: url, displayName: "zero.npy")
        }
        #expect(throws: ContinualError.noFeatureRows(file: "empty.npy")) {
            try w.session.classifier.classify(snapshot: snapshot, featureFile: try npy("empty.npy", rows: 0, width: d), displayName: "empty.npy")
        }

        // Image files go through CLIP's centre crop and the image tower, as encode-images does.
        let images = tinyModel.deletingLastPathComponent().appendingPathComponent("images")
        let files = ["rgb_64x48.png", "baseline_88x60.jpg"].map { images.appendingPathComponent($0).path }
        let tower = try VisionTower(directory: tinyModel)
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let pixels = try files.flatMap { preprocessing.pixels(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))) }
        let encoded = try tower.encode(pixels: pixels, count: files.count)
        let byFile = try w.session.classifier.classify(snapshot: snapshot, imageFiles: files, top: 5)
        let byFeature = try w.session.classifier.classify(snapshot: snapshot, imageFeatures: encoded, count: files.count, names: files, top: 5)
        #expect(byFile.map(\.input) == files)
        for (a, b) in zip(byFile, byFeature) {
            #expect(a.top.map(\.className) == b.top.map(\.className))
            #expect(largestDifference(a.top.map(\.probability), b.top.map(\.probability)) < 1e-5)
        }
        let missing = w.directory.appendingPathComponent("missing.png").path
        let error = #expect(throws: ImageError.self) { try w.session.classifier.classify(snapshot: snapshot, imageFiles: [files[0], missing]) }
        #expect(error?.description.contains(missing) == true, "\(String(describing: error))")
        #expect(throws: StoreError.self) { try w.session.classifier.classify(snapshot: 99, imageFiles: files) }
    }
}
