import ArgumentParser
import Store

extension SnapshotReference: ExpressibleByArgument {
    public init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        self.init(argument)
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Put a name on a snapshot (e.g. best-16shot), usable wherever --snapshot takes an id.",
        discussion: """
            Snapshots never change; their names do. Tagging a name that is already on another snapshot \
            moves it (the command says from where). A name is not a number (a number is an id), has no \
            control characters, no ':' and no white space at either end. `untag NAME` removes it; \
            `snapshots` and `show` list each snapshot's names.
            """
    )

    @Option(name: .long, help: "The snapshot: an id, or a name it already has.")
    var snapshot: SnapshotReference

    @Argument(help: ArgumentHelp("The name.", valueName: "NAME"))
    var name: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func validate() throws { try validateName(name, as: .tag, option: "NAME") }

    func run() throws {
        let change = try store.withStore(.write) { labelStore in
            try labelStore.tag(name, snapshot: labelStore.resolveSnapshot(snapshot))
        }
        if output.json {
            try printJSON(change)
            return
        }
        print("'\(change.name)' names snapshot \(change.snapshot)"
              + (change.previous.map { $0 == change.snapshot ? " (already)" : " (moved from snapshot \($0))" } ?? ""))
    }
}

struct UntagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "untag",
        abstract: "Take a name off the snapshot it names; the snapshot stays as it is."
    )

    @Argument(help: ArgumentHelp("The name.", valueName: "NAME"))
    var name: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    struct Untagged: Encodable {
        var name: String
        var snapshot: Int64
    }

    func run() throws {
        let id = try store.withStore(.write) { try $0.untag(name) }
        if output.json {
            try printJSON(Untagged(name: name, snapshot: id))
            return
        }
        print("'\(name)' no longer names snapshot \(id)")
    }
}
