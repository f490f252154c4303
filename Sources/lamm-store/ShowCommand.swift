import ArgumentParser
import Store

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one snapshot: its configuration, loss curve and every class's label row."
    )

    @Option(name: .long, help: "The snapshot id (see `lamm-store snapshots`).")
    var snapshot: Int64

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let detail = try store.withStore(.read) { try $0.snapshotDetail(snapshot) }
        if output.json {
            try printJSON(detail)
            return
        }
        let s = detail.summary
        print("snapshot \(s.id): dataset '\(s.dataset)', method \(s.method.rawValue), stage \(s.stage), parent \(s.parent.map { "\($0)" } ?? "none"), created \(s.createdAt.display)")
        print("classes: \(s.classes) (\(s.trainedClasses) trained here, \(s.classes - s.trainedClasses) inherited)")
        if let context = detail.contextVectors {
            print("context vectors: \(context.tokenCount) x \(context.width), sha256 \(context.contentSha256.prefix(12))")
        }
        print("")
        printTable(["class", "stage", "label", "row", "tokens", "sha256", "trained by"], detail.labels.map {
            [$0.className, $0.stage, "\($0.labelIndex)", "\($0.labelEmbeddingId)", "\($0.tokenCount)",
             String($0.contentSha256.prefix(12)), $0.introducedBy == s.id ? "this snapshot" : "snapshot \($0.introducedBy)"]
        })
    }
}
