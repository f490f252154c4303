import ArgumentParser
import Continual
import Foundation
import Store

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a store bound to a CLIP checkpoint.",
        discussion: """
            DIR is a Hugging Face CLIP directory (config.json, model.safetensors, vocab.json, merges.txt) \
            or an open_clip one (open_clip_config.json, open_clip_model.safetensors, \
            bpe_simple_vocab_16e6.txt.gz). The store records the weights' SHA-256 and refuses any other \
            checkpoint afterwards. Running init again with the same checkpoint changes nothing.
            """
    )

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(name: .long, help: "A name for the model (default: the directory's name).")
    var name: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        // Check the checkpoint completely before the store file is created or touched.
        let record = try ModelRecord.describing(checkpoint: checkpoint.directory.standardizedFileURL, name: name)
        // The store's own name for itself: a PostgreSQL URL without its password.
        let (bound, model, shown) = try store.withStore(.create) { labelStore in
            (try labelStore.bindModel(record), try labelStore.requireModel(), labelStore.path)
        }
        if output.json {
            try printJSON(model)
        } else {
            print(bound ? "created store \(shown) bound to \(model.name) (\(model.directory))"
                        : "store \(shown) is already bound to \(model.name); nothing changed")
            print("token embeddings \(model.tokenEmbeddingWidth) wide, image/text features \(model.featureWidth) wide, weights sha256 \(model.weightsSha256)")
        }
    }
}
