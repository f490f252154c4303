import Formats
import Foundation
import Images
import Methods
import Store
import Testing
import Training

@testable import Continual

/// `importSplit` and `encodeImages` called as a library: the images of a split file become
/// features, and both stages are written together or not at all.
@Suite struct ImportSplitTests {
    static let images = tinyModel.deletingLastPathComponent().appendingPathComponent("images")

    /// A split file over fixture images; `labels` are (image, label, class name) per row.
    func splitFile(_ w: Workspace, _ name: String, train: [(String, Int, String)], test: [(String, Int, String)]) throws -> URL {
        func rows(_ items: [(String, Int, String)]) -> [[Any]] { items.map { [$0.0, $0.1, $0.2] } }
        let url = w.directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: ["train": rows(train), "test": rows(test)]).write(to: url)
        return url
    }

    func request(_ file: URL, method: Method = .lamm) -> ImportSplitRequest {
        var configuration = LAMMConfiguration()
        configuration.epochs = 2
        return ImportSplitRequest(file: file, fileName: file.lastPathComponent, images: Self.images, dataset: nil,
                                  method: method, configuration: configuration)
    }

    let train = [("rgb_64x48.png", 0, "apple"), ("rgba_64x48.png", 1, "boat"), ("gray_37x61.png", 2, "car"),
                 ("baseline_88x60.jpg", 0, "apple")]
    let test = [("progressive_88x60.jpg", 0, "apple"), ("gray_64x48.jpg", 1, "boat"), ("palette_37x61.png", 2, "car")]

    @Test func bothStagesAreWrittenAsOneLineage() throws {
        let w = try Workspace()
        for method in [Method.lamm, .coop] {
            let results = try w.session.writer.importSplit(request(try splitFile(w, "split_zhou_Tiny.json", train: train, test: test), method: method))
            #expect(results.map(\.registration.stage) == ["Set1", "Set2"])
            #expect(results.map(\.registration.dataset) == ["Tiny", "Tiny"])
            #expect(results.map(\.registration.classes) == [2, 1])
            #expect(results.map(\.registration.train) == [3, 1] && results.map(\.registration.test) == [2, 1])
            // The second method reuses the stages the first registered.
            #expect(results.map(\.newlyRegistered) == (method == .lamm ? [true, true] : [false, false]))
            let (first, second) = (results[0].snapshot, results[1].snapshot)
            #expect(second.parent == first.id)
            // Set2's snapshot points at Set1's own rows: they were not trained again.
            let before = try w.store.labelRows(snapshot: first.id), after = try w.store.labelRows(snapshot: second.id)
            #expect(after.prefix(2).map(\.labelEmbeddingId) == before.map(\.labelEmbeddingId))
            #expect(after.map(\.classRecord.name) == ["apple", "boat", "car"])
            if method == .coop {
                // CoOp's context trained on Set1 continues, and moves, on Set2.
                let c1 = try #require(try w.store.snapshotRecord(first.id).contextVectorsId)
                let c2 = try #require(try w.store.snapshotRecord(second.id).contextVectorsId)
                let v1 = try #require(try w.store.contextVectors(c1)), v2 = try #require(try w.store.contextVectors(c2))
                #expect(c1 != c2 && v1.values != v2.values)
            }
        }
        #expect(try w.store.verify().ok)
    }

    @Test func aBadSecondStageWritesNothing() throws {
        let w = try Workspace()
        let before = try w.store.contentDump()
        // "dove" (label 3) lands in Set2 with test rows only.
        let bad = try splitFile(w, "split_zhou_Bad.json", train: train, test: test + [("rgb_64x48.png", 3, "dove")])
        #expect(throws: ContinualError.noTrainingRows(file: "split_zhou_Bad.json", classes: ["dove"])) {
            try w.session.writer.importSplit(request(bad))
        }
        #expect(try w.store.contentDump() == before)
        // A missing image of Set2 is found before anything is written too.
        let missing = try splitFile(w, "split_zhou_Missing.json", train: train + [("nowhere.png", 2, "car")], test: test)
        #expect(throws: ImageError.self) { try w.session.writer.importSplit(request(missing)) }
        #expect(try w.store.contentDump() == before)
    }

    @Test func encodeImagesGivesTheTowersFeaturesPerView() throws {
        let w = try Workspace()
        let files = ["rgb_64x48.png", "baseline_88x60.jpg"].map { Self.images.appendingPathComponent($0).path }
        let data = StageData(sourceFile: "stage.csv", classes: ["a"], samples: [
            Sample(classIndex: 0, split: .train, feature: [], imagePath: files[0]),
            Sample(classIndex: 0, split: .test, feature: [], imagePath: files[1]),
        ], firstLine: [:])
        let tower = try w.session.features.visionTower()
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let centre = try files.map { try tower.encode(pixels: preprocessing.pixels(ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))), count: 1) }

        // Images are encoded in batches, so sgemm may round the last bit otherwise than one at a time.
        func close(_ a: [Float], _ b: [Float]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }
        }
        let plain = try w.session.features.encodeImages(data, options: ImageEncodingOptions())
        #expect(plain.data.samples.count == 2 && zip(plain.data.samples, centre).allSatisfy { close($0.feature, $1) })
        #expect(plain.data.samples.map(\.view) == [0, 0] && plain.computed.count == 2 && plain.reused == 0)

        // Two augmented views of the training image, drawn with the seed; the test row stays the centre crop.
        let views = try w.session.features.encodeImages(data, options: ImageEncodingOptions(views: 2, seed: 7))
        #expect(views.data.samples.map(\.view) == [1, 2, 0])
        #expect(views.data.samples.map(\.split) == [.train, .train, .test])
        #expect(close(views.data.samples[2].feature, centre[1]))
        #expect(!close(views.data.samples[0].feature, views.data.samples[1].feature) && !close(views.data.samples[0].feature, centre[0]))
        #expect(try w.session.features.encodeImages(data, options: ImageEncodingOptions(views: 2, seed: 7)).data.samples.map(\.feature)
            == views.data.samples.map(\.feature))
        #expect(try w.session.features.encodeImages(data, options: ImageEncodingOptions(views: 2, seed: 8)).data.samples[0].feature
            != views.data.samples[0].feature)
    }
}
