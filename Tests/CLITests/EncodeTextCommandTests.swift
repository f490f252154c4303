import Formats
import Foundation
import Testing

/// encode-text through the built binary, against the PyTorch reference features of the fixture.
@Suite struct EncodeTextCommandTests {
    @Test(arguments: ["clip-tiny", "clip-tiny-openclip"])
    func featuresMatchTheReference(fixture: String) throws {
        let directory = CLI.fixtures.appendingPathComponent(fixture)
        let texts = ["a photo of a dog.", "a photo of a cat.", "dog"]
        let result = try CLI.run(["encode-text", "--model", directory.path, "--json"] + texts)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try #require(try CLI.json(result) as? [[String: Any]])
        #expect(lines.map { $0["text"] as? String } == texts)
        let reference = try SafetensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        let expected = try reference.floats("text_embeds")
        for (p, line) in lines.enumerated() {
            let feature = try #require(line["feature"] as? [Double]).map(Float.init)
            let row = Array(expected[(p * 24)..<((p + 1) * 24)])
            let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            let worst = zip(feature, row.map { $0 / norm }).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-4, "\(texts[p]): worst difference \(worst)")
        }
    }

    @Test func errorsNameTheDirectoryOrText() throws {
        let missing = try CLI.run(["encode-text", "--model", "/nonexistent/clip", "dog"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/clip"))
        let long = String(repeating: "dog ", count: 100)
        let tooLong = try CLI.run(["encode-text", "--model", CLI.fixtures.appendingPathComponent("clip-tiny").path, long])
        #expect(tooLong.status != 0 && tooLong.stderr.contains("--truncate"))
        let cut = try CLI.run(["encode-text", "--model", CLI.fixtures.appendingPathComponent("clip-tiny").path, "--truncate", long])
        #expect(cut.status == 0)
    }
}
