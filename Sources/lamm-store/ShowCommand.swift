import ArgumentParser
import Continual
import Foundation
import Store
import Training

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one snapshot: its configuration, loss curve, prompt tensors and every class's label row."
    )

    @Option(name: .customLong("snapshot"), parsing: .unconditional, help: "The snapshot: its id (see `lamm-store snapshots`) or a name it has (`lamm-store tag`).")
    var snapshotReference: SnapshotReference

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let (detail, record) = try store.withStore(.read) { store in
            try store.consistentRead {
                let snapshot = try store.resolveSnapshot(snapshotReference)
                return (try store.snapshotDetail(snapshot), try store.snapshotRecord(snapshot))
            }
        }
        if output.json {
            try printJSON(detail)
            return
        }
        let s = detail.summary
        print("snapshot \(s.id): dataset '\(s.dataset)', method \(s.method.rawValue), stage \(s.stage), parent \(s.parent.map { "\($0)" } ?? "none"), created \(s.createdAt.display)")
        if !s.tags.isEmpty { print("tags: \(s.tags.joined(separator: ", "))") }
        print("classes: \(s.classes) (\(s.trainedClasses) trained here, \(s.classes - s.trainedClasses) inherited)")
        if let context = detail.contextVectors {
            print("context vectors: \(context.tokenCount) x \(context.width), sha256 \(context.contentSha256.prefix(12))")
        }
        if let tensors = detail.promptTensors {
            print("prompt tensors (\(tensors.count)):")
            printTable(["prompt tensor", "shape", "L2 norm", "sha256"], tensors.map {
                [$0.name, shapeText($0.shape), String(format: "%.4f", $0.l2Norm), String($0.contentSha256.prefix(12))]
            })
        }
        print("configuration:")
        detail.config.flattened().forEach { print("  \($0): \($1)") }
        printLossCurve(record.lossCurve, stored: detail.lossCurve)
        print("")
        printTable(["class", "stage", "label", "row", "tokens", "sha256", "trained by"], detail.labels.map {
            [$0.className, $0.stage, "\($0.labelIndex)", "\($0.labelEmbeddingId)", "\($0.tokenCount)",
             String($0.contentSha256.prefix(12)), $0.introducedBy == s.id ? "this snapshot" : "snapshot \($0.introducedBy)"]
        })
    }

    /// The loss of each epoch as the snapshot recorded it, epochs counted from 1 as the training
    /// progress shows them.
    /// `stored` is printed as it is when it is not a loss curve this lamm-store can read.
    func printLossCurve(_ curve: [EpochLoss]?, stored: JSONValue) {
        guard let curve else {
            print("loss curve: \(stored.text)")
            return
        }
        guard !curve.isEmpty else {
            print("loss curve: none")
            return
        }
        print("loss curve (\(curve.count) epochs):")
        printTable(["epoch", "lr", "total", "ce", "wc", "cos", "kd"], curve.map { e in
            ["\(e.epoch + 1)", String(format: "%.2e", Double(e.learningRate))]
                + [e.terms.total, e.terms.ce, e.terms.wc, e.terms.cos, e.terms.kd].map { String(format: "%.4f", $0) }
        })
    }
}

/// A tensor's shape as the text output writes it: `2 x 512`, `scalar` for [].
func shapeText(_ shape: [Int]) -> String {
    shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: " x ")
}

extension JSONValue {
    /// Every value as a line `key.path: value`, keys sorted, for a stored configuration.
    func flattened(_ path: String = "") -> [(String, String)] {
        guard case let .object(members) = self else { return [(path, text)] }
        return members.keys.sorted().flatMap { members[$0]!.flattened(path.isEmpty ? $0 : "\(path).\($0)") }
    }

    /// A value as written in the text output: whole numbers without a fraction, arrays and
    /// objects as JSON.
    var text: String {
        switch self {
        case .null: return "null"
        case let .bool(value): return "\(value)"
        case let .number(value):
            return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        case let .string(value): return value
        case let .array(values): return "[" + values.map(\.text).joined(separator: ", ") + "]"
        case let .object(members): return "{" + members.keys.sorted().map { "\($0): \(members[$0]!.text)" }.joined(separator: ", ") + "}"
        }
    }
}
