import ArgumentParser

@main
struct LAMMStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lamm-store",
        abstract: "Versioned label embeddings for continual learning of CLIP classifiers (LAMM).",
        subcommands: [TokenizeCommand.self]
    )
}
