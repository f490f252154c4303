import ArgumentParser
import CLIP
import Foundation

/// `lamm-store tokenize`: shows how CLIP's tokenizer reads texts, for checking class
/// names and prompts before they are trained on.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show CLIP's token ids and token strings for texts.",
        discussion: """
            Loads the vocabulary from the model directory: vocab.json + merges.txt \
            (Hugging Face layout) or bpe_simple_vocab_16e6.txt.gz (open_clip layout); \
            a directory with neither gets CLIP's own vocabulary, which lamm-store ships. \
            Each text is framed by start and end of text; it is not padded. \
            Put -- before texts that start with a dash. With --json, one array of {"text", "ids", \
            "tokens"} objects.
            """
    )

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(name: .long, parsing: .unconditional, help: "Places in the text encoder's context, start and end of text included.")
    var contextLength: Int = 77

    @Flag(name: .long, help: "Cut texts that do not fit to the first context-length - 1 tokens and end of text.")
    var truncate = false

    @OptionGroup var output: OutputOptions

    @Argument(help: "The texts to tokenize.")
    var texts: [String] = []

    func validate() throws {
        guard contextLength >= 2 else {
            throw ValidationError("--context-length must be at least 2 (start and end of text); CLIP uses 77.")
        }
        guard !texts.isEmpty else { throw ValidationError("Give at least one text to tokenize.") }
    }

    func run() throws {
        let tokenizer = try CLIPTokenizer(directory: checkpoint.directory)
        print(try render(tokenizer.tokenizeAll(texts, contextLength: contextLength, truncate: truncate), json: output.json))
    }

    /// One tokenized text, as printed.
    struct Line: Codable, Equatable {
        let text: String
        let ids: [Int]
        let tokens: [String]
    }

    func render(_ lines: [Line], json: Bool) throws -> String {
        if json {
            // Written field by field so that the keys keep the order text, ids, tokens.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            func encoded(_ value: some Encodable) throws -> String {
                String(decoding: try encoder.encode(value), as: UTF8.self)
            }
            let objects = try lines.map { line in
                "{\"text\":\(try encoded(line.text)),\"ids\":\(try encoded(line.ids)),\"tokens\":\(try encoded(line.tokens))}"
            }
            return "[" + objects.joined(separator: ",\n") + "]"
        }
        return lines.map { line in
            "\(line.text.debugDescription): \(line.ids.map(String.init).joined(separator: " "))"
                + " | \(line.tokens.joined(separator: " "))"
        }.joined(separator: "\n")
    }
}

extension CLIPTokenizer {
    /// Ids and token strings of each text, as `lamm-store tokenize` shows them.
    func tokenizeAll(_ texts: [String], contextLength: Int, truncate: Bool) throws -> [TokenizeCommand.Line] {
        try texts.map { text in
            let ids = try tokenize(text, contextLength: contextLength, truncate: truncate)
            return TokenizeCommand.Line(text: text, ids: ids, tokens: tokenStrings(ids))
        }
    }
}
