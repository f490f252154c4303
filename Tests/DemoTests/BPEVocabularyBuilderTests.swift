import CLIP
import Demo
import Foundation
import Testing

@Suite struct BPEVocabularyBuilderTests {
    /// A fresh directory under the temporary folder, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("demo-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func mergesTheMostFrequentPairFirstAndBreaksTiesByText() {
        let vocabulary = BPEVocabularyBuilder.learn(wordCounts: ["abc": 3, "xbc": 1], maximumMerges: 2)
        // Pairs: (a,b) 3, (b,c</w>) 4, (x,b) 1: (b, c</w>) first; then (a, bc</w>) 3 beats (x, bc</w>) 1.
        #expect(vocabulary.merges == [.init(left: "b", right: "c</w>"), .init(left: "a", right: "bc</w>")])
        // Equal counts: (z, y</w>) and (b, a</w>) once each; the pair sorting first by text wins.
        let tie = BPEVocabularyBuilder.learn(wordCounts: ["zy": 1, "ba": 1], maximumMerges: 1)
        #expect(tie.merges == [.init(left: "b", right: "a</w>")])
    }

    @Test func layoutIsCLIPs() {
        let vocabulary = BPEVocabularyBuilder.learn(wordCounts: ["photo": 2, "of": 2])
        #expect(vocabulary.tokens.count == 512 + vocabulary.merges.count + 2)
        #expect(vocabulary.tokens[0] == "!")
        #expect(vocabulary.tokens[256] == "!</w>")
        #expect(vocabulary.tokens.suffix(2) == ["<|startoftext|>", "<|endoftext|>"])
        #expect(vocabulary.tokens.contains("photo</w>") && vocabulary.tokens.contains("of</w>"))
        #expect(vocabulary.mergesText().hasPrefix("#version: 0.2\n"))
        #expect(Set(vocabulary.tokens).count == vocabulary.tokens.count)
    }

    @Test func tokenizerLoadsTheFilesAndRoundTrips() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var counts: [String: Int] = [:]
        for word in DemoTask.promptWords() { counts[word, default: 0] += 1 }
        let vocabulary = BPEVocabularyBuilder.learn(wordCounts: counts)
        try vocabulary.write(to: directory)
        let tokenizer = try CLIPTokenizer(directory: directory)
        #expect(tokenizer.vocabularySize == vocabulary.tokens.count)
        #expect(tokenizer.startOfText == vocabulary.tokens.count - 2)
        #expect(tokenizer.endOfText == vocabulary.tokens.count - 1)
        for name in DemoTask.defaultClassNames {
            let ids = tokenizer.encode(name)
            // Every word was merged whole: one token per word.
            #expect(ids.count == name.split(separator: " ").count, "\(name): \(tokenizer.tokenStrings(ids))")
            let text = "a photo of a \(name)."
            let tokens = try tokenizer.tokenize(text)
            #expect(tokens.count == 4 + ids.count + 3)
            // Each `</w>` decodes as a space, the last one too (open_clip's decode).
            #expect(tokenizer.decode(Array(tokens.dropFirst().dropLast())) == "a photo of a \(name) . ")
        }
        // Words never seen fall back to byte pieces and still round-trip.
        let unseen = tokenizer.encode("platypus")
        #expect(unseen.count > 1)
        #expect(tokenizer.decode(unseen) == "platypus ")
    }
}
