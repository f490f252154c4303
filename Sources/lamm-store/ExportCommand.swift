import ArgumentParser
import Formats
import Foundation
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a snapshot's label embeddings to a .safetensors or .npy file.",
        discussion: """
            .safetensors: one F32 tensor per class, `label_embedding.<class>` [tokens, width], with the \
            snapshot's id, dataset, method and stage and the class order in the metadata. \
            .npy: every class's token rows stacked in label order, [total tokens, width]; the command \
            prints which rows belong to which class (--json: `classes[].first_row` and `tokens`).
            """
    )

    @Option(name: .long, help: "The snapshot id (see `lamm-store snapshots`).")
    var snapshot: Int64

    @Option(name: .long, help: ArgumentHelp("Output file; its extension (.safetensors or .npy) chooses the format.", valueName: "file"))
    var out: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    struct ExportedClass: Encodable {
        var className: String
        var stage: String
        var firstRow: Int
        var tokens: Int
    }

    struct Exported: Encodable {
        var snapshot: Int64
        var out: String
        var format: String
        var rows: Int
        var width: Int
        var classes: [ExportedClass]
    }

    func run() throws {
        let format = URL(fileURLWithPath: out).pathExtension.lowercased()
        guard format == "npy" || format == "safetensors" else {
            throw OptionError.unsupportedExtension(option: "--out", path: out, extensions: ["safetensors", "npy"])
        }
        let (summary, labels, width) = try store.withStore(.read) { labelStore in
            (try labelStore.snapshotSummary(snapshot), try labelStore.labelVectors(snapshot: snapshot),
             try labelStore.requireModel().tokenEmbeddingWidth)
        }
        var classes: [ExportedClass] = []
        var row = 0
        for label in labels {
            classes.append(ExportedClass(className: label.className, stage: label.stage, firstRow: row, tokens: label.vectors.tokenCount))
            row += label.vectors.tokenCount
        }
        let url = URL(fileURLWithPath: out)
        do {
            if format == "npy" {
                try NPY.write(FloatMatrix(rows: row, columns: width, values: labels.flatMap(\.vectors.values)), to: url)
            } else {
                let order = String(decoding: try JSONEncoder().encode(labels.map(\.className)), as: UTF8.self)
                var writer = SafetensorsWriter(metadata: [
                    "snapshot": "\(summary.id)", "dataset": summary.dataset, "method": summary.method.rawValue,
                    "stage": summary.stage, "classes": order,
                ])
                for label in labels {
                    try writer.add("label_embedding.\(label.className)", floats: label.vectors.values,
                                   shape: [label.vectors.tokenCount, label.vectors.width])
                }
                try writer.write(to: url)
            }
        } catch let error as NPYError {
            throw error
        } catch {
            throw ExportError.unwritable(path: out, reason: "\(error)")
        }
        let exported = Exported(snapshot: snapshot, out: out, format: format, rows: row, width: width, classes: classes)
        if output.json {
            try printJSON(exported)
        } else {
            print("wrote \(labels.count) classes (\(row) token rows x \(width)) of snapshot \(snapshot) to \(out)")
        }
    }
}

enum ExportError: Error, CustomStringConvertible, LocalizedError {
    case unwritable(path: String, reason: String)

    var description: String {
        switch self {
        case let .unwritable(path, reason):
            return "cannot write \(path) (\(reason)). Check that its folder exists and is writable."
        }
    }

    var errorDescription: String? { description }
}
