import CLIP
import Formats
import Foundation
import Images
import Testing

/// Files to features, end to end: decoding, CLIP's preprocessing and the image tower against
/// PIL + CLIPImageProcessorPil + transformers' CLIPModel on the tiny checkpoint
/// (Tools/make_image_feature_fixture.py). Features to 1e-4 relative to the largest entry.
@Suite struct ImageFeatureParityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    @Test func filesGiveTheReferenceFeatures() throws {
        let reference = try SafetensorsFile(url: Self.fixtures.appendingPathComponent("images/features.safetensors"))
        let tower = try VisionTower(directory: Self.fixtures.appendingPathComponent("clip-tiny"))
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let names = reference.tensorNames.sorted()
        #expect(names.count == 11)
        let pixels = try names.flatMap { name in
            preprocessing.pixels(try ImageDecoder.decode(contentsOf: Self.fixtures.appendingPathComponent("images/\(name)")))
        }
        let features = try tower.encode(pixels: pixels, count: names.count)
        let d = tower.projectionDim
        for (i, name) in names.enumerated() {
            let expected = try reference.floats(name)
            let actual = Array(features[(i * d)..<((i + 1) * d)])
            let scale = expected.map(abs).max()!
            let worst = zip(actual, expected).map { abs($0 - $1) }.max()!
            print("\(name): worst |difference| \(worst) (relative \(worst / scale))")
            #expect(worst <= 1e-4 * scale, "\(name): worst |difference| \(worst), scale \(scale)")
        }
    }
}
