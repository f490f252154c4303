import ArgumentParser
import CLIP
import Foundation
import Testing
@testable import lamm_store

/// `lamm-store tokenize`: parsing, output, and the built binary end to end.
@Suite struct TokenizeCommandTests {
    /// A model folder without vocabulary files: the tokenizer falls back to CLIP's own.
    static let vocabulary: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clip-default-vocab-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }()

    static let dogPrompt = "a photo of a dog."
    static let dogIDs = [49406, 320, 1125, 539, 320, 1929, 269, 49407]

    @Test func parsesOptionsAndTexts() throws {
        let parsed = try LAMMStoreCommand.parseAsRoot(
            ["tokenize", "--model", "/models/clip", "--context-length", "16", "--truncate", "--json", "a dog", "a cat"])
        let command = try #require(parsed as? TokenizeCommand)
        #expect(command.checkpoint.model == "/models/clip")
        #expect(command.contextLength == 16)
        #expect(command.truncate && command.output.json)
        #expect(command.texts == ["a dog", "a cat"])

        let defaults = try #require(try LAMMStoreCommand.parseAsRoot(["tokenize", "--model", "m", "x"]) as? TokenizeCommand)
        #expect(defaults.contextLength == 77)
        #expect(!defaults.truncate && !defaults.output.json)
    }

    @Test(arguments: [
        ["tokenize", "x"],                                         // no --model
        ["tokenize", "--model", "m"],                              // no text
        ["tokenize", "--model", "m", "--context-length", "1", "x"],  // context too short
    ])
    func refusesBadArguments(arguments: [String]) {
        #expect(throws: (any Error).self) { try LAMMStoreCommand.parseAsRoot(arguments) }
    }

    @Test func rendersIDsAndTokenStrings() throws {
        let tokenizer = try loadVocabulary()
        let command = try #require(try LAMMStoreCommand.parseAsRoot(["tokenize", "--model", "m", "x"]) as? TokenizeCommand)
        let lines = try tokenizer.tokenizeAll([Self.dogPrompt], contextLength: 77, truncate: false)
        #expect(try command.render(lines, json: false)
            == "\"a photo of a dog.\": 49406 320 1125 539 320 1929 269 49407"
            + " | <|startoftext|> a</w> photo</w> of</w> a</w> dog</w> .</w> <|endoftext|>")
        let decoded = try JSONDecoder().decode(
            [TokenizeCommand.Line].self, from: Data(try command.render(lines, json: true).utf8))
        #expect(decoded == lines)
    }

    // MARK: End to end

    @Test func binaryPrintsJSON() throws {
        let result = try runBinary(["tokenize", "--model", Self.vocabulary.path, "--json", Self.dogPrompt, "Tench"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = try JSONDecoder().decode([TokenizeCommand.Line].self, from: Data(result.stdout.utf8))
        #expect(lines.map(\.text) == [Self.dogPrompt, "Tench"])
        #expect(lines.first?.ids == Self.dogIDs)
        #expect(lines.first?.tokens.first == "<|startoftext|>")
        #expect(lines.last?.tokens == ["<|startoftext|>", "ten", "ch</w>", "<|endoftext|>"])
    }

    @Test func binaryTruncatesOnlyWhenAsked() throws {
        let long = ["tokenize", "--model", Self.vocabulary.path, "--context-length", "4", "--json", Self.dogPrompt]
        let refused = try runBinary(long)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("8 tokens") && refused.stderr.contains("--truncate"))
        let cut = try runBinary(long + ["--truncate"])
        #expect(cut.status == 0, "stderr: \(cut.stderr)")
        let lines = try JSONDecoder().decode([TokenizeCommand.Line].self, from: Data(cut.stdout.utf8))
        #expect(lines.first?.ids == [49406, 320, 1125, 49407])
    }

    @Test func binaryRefusesMissingModelDirectory() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-model-\(UUID().uuidString)")
        let result = try runBinary(["tokenize", "--model", missing.path, "a dog"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(missing.path))
        #expect(result.stdout.isEmpty)
    }

    @Test func binaryRefusesMalformedVocabulary() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bad-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("{ not json".utf8).write(to: directory.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: directory.appendingPathComponent("merges.txt"))
        let result = try runBinary(["tokenize", "--model", directory.path, "a dog"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("vocab.json") && result.stderr.contains("malformed"))
    }

    // MARK: Helpers

    private func loadVocabulary() throws -> CLIPTokenizer {
        try CLIPTokenizer(directory: Self.vocabulary)
    }

    private func runBinary(_ arguments: [String]) throws -> CLIResult {
        try CLI.run(arguments)
    }
}
