import ArgumentParser
import CLIP
import Foundation

/// `lamm-store encode-text`: CLIP's L2-normalised text features of texts, for users ("how
/// close are these two labels for CLIP?") and for parity checks against other implementations.
struct EncodeTextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-text",
        abstract: "Print CLIP's L2-normalised text features of texts.",
        discussion: """
            Loads the checkpoint from the model directory (Hugging Face or open_clip layout) and runs \
            each text, framed by start and end of text, through the text tower. Put -- before texts \
            that start with a dash. With --json, one array of {"text", "feature"} objects.
            """
    )

    @OptionGroup var checkpoint: CheckpointOptions

    @OptionGroup var precision: PrecisionOptions

    @Flag(name: .long, help: "Cut texts longer than the context instead of refusing them.")
    var truncate = false

    @OptionGroup var output: OutputOptions

    @Argument(help: "The texts to encode.")
    var texts: [String] = []

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("Give at least one text to encode.") }
    }

    func run() throws {
        let directory = checkpoint.directory
        let checkpoint = try CLIPCheckpoint(directory: directory)
        let tokenizer = try CLIPTokenizer(directory: directory, tokenEmbeddingRows: checkpoint.configuration.text.vocabularySize)
        let context = checkpoint.configuration.text.maxPositions
        let ids = try texts.map { try tokenizer.tokenize($0, contextLength: context, truncate: truncate) }
        let features = try TextTower(checkpoint, precision: precision.resolved).encode(tokenIDs: ids, normalized: true)
        try printFeatures(texts, features, dimension: checkpoint.configuration.projectionDim, nameKey: "text", json: output.json)
    }
}
