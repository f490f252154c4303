import ArgumentParser
import Continual

@main
struct LAMMStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lamm-store",
        abstract: "Versioned label embeddings for continual learning of CLIP classifiers (LAMM).",
        discussion: """
            A store (one SQLite file, or a PostgreSQL database shared by a team: --db or LAMM_STORE_DB, \
            default ./lamm.sqlite) is bound to one CLIP checkpoint and keeps, per dataset, its stages \
            (Set1, Set2, ...), their classes and image features, and immutable snapshots of the classes' \
            label embeddings.
            """,
        version: lammStoreVersion,
        subcommands: [
            InitCommand.self,
            AddClassesCommand.self,
            ImportSplitCommand.self,
            ImportFolderCommand.self,
            SweepCommand.self,
            SnapshotsCommand.self,
            ShowCommand.self,
            DiffCommand.self,
            TagCommand.self,
            UntagCommand.self,
            ReproduceCommand.self,
            ExportCommand.self,
            EvalCommand.self,
            ClassifyCommand.self,
            CompareCommand.self,
            DemoCommand.self,
            VerifyCommand.self,
            CopyCommand.self,
            TokenizeCommand.self,
            EncodeTextCommand.self,
            EncodeImagesCommand.self,
        ]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Options end at `--`; after it, `--json` would be an argument such as a file name.
        let json = arguments.prefix { $0 != "--" }.contains("--json")
        if let name = unknownHelpTopic(arguments) {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName }
            fail(ValidationError("help: there is no command '\(name)'; the commands are \(names.joined(separator: ", "))."), json: json)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            fail(error, json: json)
        }
    }

    /// ArgumentParser answers `help` with a name it does not know by the root's help and status 0;
    /// a misspelt command must fail like any other usage error. Returns the first unknown name.
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        guard arguments.first == "help" else { return nil }
        var commands = configuration.subcommands
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            guard let command = commands.first(where: { $0.configuration.commandName == name }) else { return name }
            commands = command.configuration.subcommands
        }
        return nil
    }
}
