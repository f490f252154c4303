import ArgumentParser
import Store

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "List the classes whose label rows differ between two snapshots of one dataset.",
        discussion: "For MaPLe snapshots, also each prompt tensor and the L2 norm of its change (B - A)."
    )

    @Argument(help: "The first snapshot: an id or a name (`lamm-store tag`).")
    var first: SnapshotReference

    @Argument(help: "The second snapshot: an id or a name.")
    var second: SnapshotReference

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let (diff, a, b) = try store.withStore(.read) { labelStore in
            let (a, b) = (try labelStore.resolveSnapshot(first), try labelStore.resolveSnapshot(second))
            return (try labelStore.diff(a, b), a, b)
        }
        if output.json {
            try printJSON(diff)
            return
        }
        print("snapshots \(a) -> \(b) (dataset '\(diff.dataset)'): \(diff.changed.count) classes differ, \(diff.unchanged) share the same label row")
        if !diff.changed.isEmpty {
            printTable(["class", "stage", "change", "row \(a)", "row \(b)", "note"], diff.changed.map {
                [$0.className, $0.stage, $0.change.rawValue, $0.rowA.map { "\($0)" } ?? "-", $0.rowB.map { "\($0)" } ?? "-",
                 $0.sameContent ? "same vectors" : ""]
            })
        }
        if let tensors = diff.promptTensors {
            print("prompt tensors:")
            printTable(["prompt tensor", "shape \(a)", "shape \(b)", "L2 change"], tensors.map {
                [$0.name, $0.shapeA.map(shapeText) ?? "-", $0.shapeB.map(shapeText) ?? "-",
                 $0.l2Change.map { String(format: "%.4f", $0) } ?? "-"]
            })
        }
    }
}
