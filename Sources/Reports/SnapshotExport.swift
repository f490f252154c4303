import Continual
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

extension LabelStore {
    /// Writes a snapshot's label rows as .npy: every class's token rows stacked in label order,
    /// [total tokens, width] (no model needed).
    public func exportLabelRows(snapshot: Int64, to out: OutputFile) throws -> ExportedSnapshot {
        _ = try snapshotRecord(snapshot)
        let labels = try labelVectors(snapshot: snapshot)
        let prompts = try promptTensors(snapshot: snapshot)
        let width = try requireModel().tokenEmbeddingWidth
        var classes: [ExportedClass] = []
        var row = 0
        for label in labels {
            classes.append(ExportedClass(className: label.className, stage: label.stage, firstRow: row, tokens: label.vectors.tokenCount))
            row += label.vectors.tokenCount
        }
        try out.write(NPY.encode(FloatMatrix(rows: row, columns: width, values: labels.flatMap(\.vectors.values))))
        let exportedPrompts = prompts.map { ExportedPromptTensor(name: $0.name, shape: $0.shape, tensor: nil) }
        return ExportedSnapshot(snapshot: snapshot, out: out.path, format: ExportFormat.npy.rawValue, rows: row, width: width, classes: classes,
                                promptTensors: exportedPrompts.isEmpty ? nil : exportedPrompts)
    }
}

extension Classifier {
    /// Writes what a snapshot's classifier is made of (SnapshotClassifier) as .safetensors, for
    /// use outside lamm-store; every tensor F32 unless said:
    ///   label_embedding.<class>  [tokens, W]  the class's label vectors
    ///   prompt_ids.<class>       I32 [L]      the class's prompt from SOT to EOT, 0 where a vector goes
    ///   label_positions.<class>  I32 [tokens] the positions of its label vectors in that prompt
    ///   context                  [n, W]       CoOp's and MaPLe's shared context, at positions 1 ... n
    ///   prompt.<name>            MaPLe's other tensors (deep_text.l, vision_proj.*, deep_proj.l.*)
    ///   text_features            [C, D]       the L2-normalised text features, in class order
    ///   logit_scale              [1]          tau: logits = tau * cos(image feature, text feature)
    /// with the snapshot, dataset, method, stage, class order, template, context positions and
    /// prompt tensors' order in the metadata. .npy writes the label rows alone (no model needed).
    public func export(snapshot: Int64, to out: OutputFile, format: ExportFormat) throws -> ExportedSnapshot {
        guard format == .safetensors else { return try store.exportLabelRows(snapshot: snapshot, to: out) }
        let classifier = try snapshotClassifier(snapshot)
        let prompts = try store.promptTensors(snapshot: snapshot)
        let summary = classifier.snapshot
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try JSONEncoder().encode(value), as: UTF8.self) }
        var metadata = [
            "snapshot": "\(summary.id)", "dataset": summary.dataset, "method": summary.method.rawValue, "stage": summary.stage,
            "classes": try json(classifier.classes.map(\.className)), "template": classifier.template,
            "context_positions": try json(classifier.contextPositions), "format": "lamm-store snapshot export 1",
        ]
        if !prompts.isEmpty { metadata["prompt_tensors"] = try json(prompts.map(\.name)) }
        var writer = SafetensorsWriter(metadata: metadata)
        var classes: [ExportedClass] = []
        var row = 0
        for cls in classifier.classes {
            let tokens = cls.labelPositions.count
            try writer.add("label_embedding.\(cls.className)", floats: cls.labelVectors, shape: [tokens, classifier.width])
            try writer.add("prompt_ids.\(cls.className)", integers: cls.tokenIDs, shape: [cls.tokenIDs.count], as: .i32)
            try writer.add("label_positions.\(cls.className)", integers: cls.labelPositions, shape: [tokens], as: .i32)
            classes.append(ExportedClass(className: cls.className, stage: cls.stage, firstRow: row, tokens: tokens))
            row += tokens
        }
        if let context = classifier.context {
            try writer.add("context", floats: context, shape: [classifier.contextPositions.count, classifier.width])
        }
        for tensor in prompts {
            try writer.add("prompt.\(tensor.name)", floats: tensor.values, shape: tensor.shape)
        }
        try writer.add("text_features", floats: classifier.textFeatures, shape: [classifier.classes.count, classifier.dimension])
        try writer.add("logit_scale", floats: [classifier.logitScale], shape: [1])
        try out.write(Data(writer.serialized()))
        let exportedPrompts = prompts.map { ExportedPromptTensor(name: $0.name, shape: $0.shape, tensor: "prompt.\($0.name)") }
        return ExportedSnapshot(snapshot: snapshot, out: out.path, format: format.rawValue, rows: row, width: classifier.width, classes: classes,
                                promptTensors: exportedPrompts.isEmpty ? nil : exportedPrompts)
    }
}
