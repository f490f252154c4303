// Everything a snapshot's classifier is made of, laid out for use outside lamm-store: each
// class's prompt as token ids with the positions its label vectors (and the context, if any)
// take, the vectors themselves, MaPLe's prompts, and the resulting L2-normalised text features.
// `export` writes it; a PyTorch user rebuilds the text features by splicing the vectors into
// CLIP's text tower at those positions (Tools/use_export.py).

import CLIP
import Foundation
import Store
import Training

public struct SnapshotClassifier: Sendable {
    public struct ClassPrompt: Sendable {
        public var className: String
        public var stage: String
        /// The prompt's token ids from SOT to EOT; 0 at the rows a vector takes.
        public var tokenIDs: [Int]
        /// Where the class's label vectors go, one position per vector row.
        public var labelPositions: [Int]
        /// The class's label vectors [labelPositions.count, W].
        public var labelVectors: [Float]
    }

    public var snapshot: SnapshotSummary
    /// `a photo of a {}.`: the prompt every class's starts from.
    public var template: String
    public var classes: [ClassPrompt]
    /// The shared context [n, W] and its positions (1 ... n), for CoOp and MaPLe snapshots.
    public var context: [Float]?
    public var contextPositions: [Int]
    /// MaPLe's deep text prompts, coupling maps and the image tower's prompts.
    public var maple: MaPLePrompts?
    /// tau: the logits are tau * cos(image feature, text feature).
    public var logitScale: Float
    /// L2-normalised text features [classes, D], in class order: the classifier itself.
    public var textFeatures: [Float]
    public var width: Int
    public var dimension: Int
}

extension Classifier {
    /// The snapshot's classes (every stage up to its own, in stage and label order) as prompts,
    /// vectors and text features.
    public func snapshotClassifier(_ id: Int64) throws -> SnapshotClassifier {
        let summary = try store.snapshotSummary(id)
        let rows = try store.labelRows(snapshot: id)
        let parameters = try features.promptParameters(ofSnapshot: id)
        let n = parameters.contextRows
        let classes = rows.map { row -> SnapshotClassifier.ClassPrompt in
            // Vectors numbered from n mark the label rows, below n the context rows.
            let prompt = parameters.prompt(template, label: (0..<row.vectors.tokenCount).map { PromptRow.vector(index: n + $0) })
            var ids: [Int] = [], positions: [Int] = []
            for (position, promptRow) in prompt.rows.enumerated() {
                switch promptRow {
                case let .token(id): ids.append(id)
                case let .vector(index):
                    ids.append(0)
                    if index >= n { positions.append(position) }
                }
            }
            return .init(className: row.classRecord.name, stage: row.stage.name, tokenIDs: ids, labelPositions: positions,
                         labelVectors: row.vectors.values)
        }
        return SnapshotClassifier(
            snapshot: summary, template: template.text, classes: classes, context: parameters.context,
            contextPositions: Array(1..<(1 + n)), maple: parameters.maplePrompts, logitScale: checkpoint.logitScale,
            textFeatures: try features.snapshotTextFeatures(rows, snapshot: id), width: width, dimension: dimension)
    }
}
