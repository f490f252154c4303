import Foundation
import Formats
import Store

/// The file formats a snapshot's label embeddings are exported to, chosen by the file's extension.
public enum ExportFormat: String, Sendable {
    case safetensors, npy

    public init?(path: String) {
        self.init(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased())
    }
}

public struct ExportedClass: Codable, Sendable, Equatable {
    public var className: String
    public var stage: String
    /// First row of the class's token rows in the .npy matrix.
    public var firstRow: Int
    public var tokens: Int
}

public struct ExportedSnapshot: Codable, Sendable, Equatable {
    public var snapshot: Int64
    public var out: String
    public var format: String
    public var rows: Int
    public var width: Int
    public var classes: [ExportedClass]
}

public enum ExportError: Error, CustomStringConvertible, LocalizedError {
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unwritable(path, reason):
            return "cannot write \(path) (\(reason)). Check that its folder exists and is writable."
        }
    }

    public var errorDescription: String? { description }
}

extension LabelStore {
    /// Writes a snapshot's label embeddings to `out`. .safetensors: one F32 tensor per class,
    /// `label_embedding.<class>` [tokens, width], with the snapshot and the class order in the
    /// metadata; .npy: every class's token rows stacked in label order, [total tokens, width].
    public func export(snapshot: Int64, to out: String, format: ExportFormat) throws -> ExportedSnapshot {
        let summary = try snapshotSummary(snapshot)
        let labels = try labelVectors(snapshot: snapshot)
        let width = try requireModel().tokenEmbeddingWidth
        var classes: [ExportedClass] = []
        var row = 0
        for label in labels {
            classes.append(ExportedClass(className: label.className, stage: label.stage, firstRow: row, tokens: label.vectors.tokenCount))
            row += label.vectors.tokenCount
        }
        let url = URL(fileURLWithPath: out)
        do {
            switch format {
            case .npy:
                try NPY.write(FloatMatrix(rows: row, columns: width, values: labels.flatMap(\.vectors.values)), to: url)
            case .safetensors:
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
        return ExportedSnapshot(snapshot: snapshot, out: out, format: format.rawValue, rows: row, width: width, classes: classes)
    }
}
