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

/// A MaPLe snapshot's prompt tensor and the safetensors tensor it was written to.
public struct ExportedPromptTensor: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    /// `prompt.<name>` in a .safetensors file; nil for .npy, which holds label rows only.
    public var tensor: String?
}

public struct ExportedSnapshot: Codable, Sendable, Equatable {
    public var snapshot: Int64
    public var out: String
    public var format: String
    public var rows: Int
    public var width: Int
    public var classes: [ExportedClass]
    /// The snapshot's prompt tensors; nil (left out of JSON) when it holds none.
    public var promptTensors: [ExportedPromptTensor]? = nil
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
    /// `label_embedding.<class>` [tokens, width], then one per prompt tensor of a MaPLe snapshot,
    /// `prompt.<name>` with its shape, with the snapshot, the class order and (when it has any)
    /// the prompt tensors' order in the metadata; .npy: every class's token rows stacked in label
    /// order, [total tokens, width].
    public func export(snapshot: Int64, to out: String, format: ExportFormat) throws -> ExportedSnapshot {
        let summary = try snapshotSummary(snapshot)
        let labels = try labelVectors(snapshot: snapshot)
        let prompts = try promptTensors(snapshot: snapshot)
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
                var metadata = [
                    "snapshot": "\(summary.id)", "dataset": summary.dataset, "method": summary.method.rawValue,
                    "stage": summary.stage, "classes": order,
                ]
                if !prompts.isEmpty {
                    metadata["prompt_tensors"] = String(decoding: try JSONEncoder().encode(prompts.map(\.name)), as: UTF8.self)
                }
                var writer = SafetensorsWriter(metadata: metadata)
                for label in labels {
                    try writer.add("label_embedding.\(label.className)", floats: label.vectors.values,
                                   shape: [label.vectors.tokenCount, label.vectors.width])
                }
                for tensor in prompts {
                    try writer.add("prompt.\(tensor.name)", floats: tensor.values, shape: tensor.shape)
                }
                try writer.write(to: url)
            }
        } catch let error as NPYError {
            throw error
        } catch {
            throw ExportError.unwritable(path: out, reason: "\(error)")
        }
        let exportedPrompts = prompts.map {
            ExportedPromptTensor(name: $0.name, shape: $0.shape, tensor: format == .safetensors ? "prompt.\($0.name)" : nil)
        }
        return ExportedSnapshot(snapshot: snapshot, out: out, format: format.rawValue, rows: row, width: width, classes: classes,
                                promptTensors: exportedPrompts.isEmpty ? nil : exportedPrompts)
    }
}
