import ArgumentParser

@main
struct LAMMStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lamm-store",
        abstract: "Versioned label embeddings for continual learning of CLIP classifiers (LAMM).",
        discussion: """
            A store (one SQLite file, --db or LAMM_STORE_DB, default ./lamm.sqlite) is bound to one CLIP \
            checkpoint and keeps, per dataset, its stages (Set1, Set2, ...), their classes and image \
            features, and immutable snapshots of the classes' label embeddings.
            """,
        version: lammStoreVersion,
        subcommands: [
            InitCommand.self,
            AddClassesCommand.self,
            ImportSplitCommand.self,
            SnapshotsCommand.self,
            ShowCommand.self,
            DiffCommand.self,
            ExportCommand.self,
            EvalCommand.self,
            CompareCommand.self,
            DemoCommand.self,
            VerifyCommand.self,
            TokenizeCommand.self,
            EncodeTextCommand.self,
            EncodeImagesCommand.self,
        ]
    )
}
