import CLIP
import Demo
import Foundation
import Testing

/// A demo checkpoint written into a fresh temporary directory.
struct DemoDirectory: ~Copyable {
    let url: URL

    init(seed: UInt64 = DemoCheckpoint.defaultSeed, size: DemoModelSize = .init()) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("demo-tests-\(UUID().uuidString)")
        try DemoCheckpoint.write(to: url, words: DemoTask.promptWords(), size: size, seed: seed)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite struct DemoCheckpointTests {
    static let files = ["config.json", "model.safetensors", "vocab.json", "merges.txt"]

    @Test func loadsAsAHuggingFaceCheckpoint() throws {
        let directory = try DemoDirectory()
        let checkpoint = try CLIPCheckpoint(directory: directory.url)
        let tokenizer = try CLIPTokenizer(directory: directory.url)
        let text = checkpoint.configuration.text
        #expect(text.hiddenSize == 64 && text.hiddenLayers == 2 && text.attentionHeads == 8)
        #expect(text.intermediateSize == 256 && text.maxPositions == 77 && text.hiddenActivation == .quickGELU)
        #expect(checkpoint.configuration.projectionDim == 32)
        #expect(text.vocabularySize == tokenizer.vocabularySize)
        #expect(abs(checkpoint.logitScale - 100) < 1e-3)

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.url.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(json?["model_type"] as? String == "clip")
        #expect(json?["architectures"] as? [String] == ["CLIPModel"])
        let textConfig = json?["text_config"] as? [String: Any]
        #expect(textConfig?["bos_token_id"] as? Int == tokenizer.startOfText)
        #expect(textConfig?["eos_token_id"] as? Int == tokenizer.endOfText)
        #expect(json?["vision_config"] is [String: Any])
        #expect(String(data: try Data(contentsOf: directory.url.appendingPathComponent("merges.txt")), encoding: .utf8)?
            .hasPrefix("#version: 0.2\n") == true)
    }

    @Test func sameSeedSameBytesOtherSeedOtherWeights() throws {
        let first = try DemoDirectory(seed: 5), second = try DemoDirectory(seed: 5), other = try DemoDirectory(seed: 6)
        for name in Self.files {
            let bytes = try Data(contentsOf: first.url.appendingPathComponent(name))
            #expect(bytes == (try Data(contentsOf: second.url.appendingPathComponent(name))), "\(name)")
        }
        // The vocabulary depends on the words only, the weights on the seed.
        let weights = try Data(contentsOf: first.url.appendingPathComponent("model.safetensors"))
        #expect(weights != (try Data(contentsOf: other.url.appendingPathComponent("model.safetensors"))))
        let vocabulary = try Data(contentsOf: first.url.appendingPathComponent("vocab.json"))
        #expect(vocabulary == (try Data(contentsOf: other.url.appendingPathComponent("vocab.json"))))
    }

    /// The tower is not degenerate: CLIP's prompts of the demo classes give clearly different
    /// text features.
    @Test(arguments: [DemoCheckpoint.defaultSeed, 2, 3])
    func classPromptsGiveDifferentFeatures(seed: UInt64) throws {
        let directory = try DemoDirectory(seed: seed)
        let tower = TextTower(try CLIPCheckpoint(directory: directory.url))
        let tokenizer = try CLIPTokenizer(directory: directory.url)
        let names = DemoTask.defaultClassNames
        let d = tower.configuration.projectionDim
        let features = try tower.encode(tokenIDs: names.map { try tokenizer.tokenize("a photo of a \($0).") }, normalized: true)
        var cosines: [Float] = []
        for a in names.indices {
            for b in names.indices where b > a {
                cosines.append(zip(features[(a * d)..<((a + 1) * d)], features[(b * d)..<((b + 1) * d)]).reduce(0) { $0 + $1.0 * $1.1 })
            }
        }
        let mean = cosines.reduce(0, +) / Float(cosines.count)
        #expect(mean < 0.9, "mean pairwise cosine \(mean)")
        #expect(cosines.max()! < 0.99, "largest pairwise cosine \(cosines.max()!)")
    }

    @Test func rejectsBadSizesAndNoWords() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("demo-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: DemoError.invalidModelSize(reason: "width 64 must be a multiple of heads 5")) {
            try DemoCheckpoint.write(to: url, words: ["cat"], size: DemoModelSize(heads: 5), seed: 1)
        }
        #expect(throws: DemoError.noWords) {
            try DemoCheckpoint.write(to: url, words: [" ", ""], seed: 1)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func unwritableDirectoryIsATypedError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("demo-tests-\(UUID().uuidString)")
        try Data("not a directory".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect {
            try DemoCheckpoint.write(to: file.appendingPathComponent("model"), words: ["cat"], seed: 1)
        } throws: { error in
            guard case let .cannotWrite(path, _) = error as? DemoError else { return false }
            return path.hasSuffix("vocab.json")
        }
    }
}
