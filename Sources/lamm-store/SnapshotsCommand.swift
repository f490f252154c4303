import ArgumentParser
import Store

struct SnapshotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "List the store's snapshots.",
        discussion: "With --dataset, only that dataset's snapshots."
    )

    @OptionGroup var dataset: DatasetOptions

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let snapshots = try store.withStore(.read) { try $0.snapshots(dataset: dataset.name) }
        if output.json {
            try printJSON(snapshots)
            return
        }
        guard !snapshots.isEmpty else {
            print("no snapshots yet")
            return
        }
        printTable(["id", "dataset", "method", "stage", "parent", "classes", "trained", "created", "tags"], snapshots.map {
            ["\($0.id)", $0.dataset, $0.method.rawValue, $0.stage, $0.parent.map { "\($0)" } ?? "-",
             "\($0.classes)", "\($0.trainedClasses)", $0.createdAt.display, $0.tags.joined(separator: ", ")]
        })
    }
}
