// The label space a run trains over: every class the logits range over, and where each class's
// text feature comes from. A stage's new classes are `trained`; under `--protocol class` the
// classes of earlier stages come first, kept as each method keeps them.

/// Where a class of the label space takes its text feature from.
public enum LabelSource: Sendable, Equatable {
    /// A fixed text feature, L2-normalised [D]: the prompt has no trained part (LAMM's classes
    /// of earlier stages, with their stored label vectors under the fixed template).
    case feature([Float])
    /// Fixed label vectors [tokens, W] in a prompt that moves with the trained prompts (the
    /// classes of earlier stages under CoOp, CoOp+LAMM and MaPLe+LAMM).
    case vectors([Float])
    /// CLIP's word embeddings in a prompt that moves with the trained prompts (MaPLe's classes
    /// of earlier stages).
    case words
    /// The class's label vectors `<M_i>` train (a class of the new stage); for a method that
    /// trains no label vectors, CLIP's word embeddings.
    case trained
}

/// One class of the label space.
public struct LabelClass: Sendable {
    public var label: ClassLabel
    public var source: LabelSource
    /// psi(y_i), CLIP's own prompt feature, L2-normalised [D]: the hierarchical loss's fixed
    /// reference. Not needed by methods that prompt both towers (their references move with the
    /// prompts) nor by a loss without feature- and logit-space terms.
    public var clipTextFeature: [Float]?

    public init(label: ClassLabel, source: LabelSource, clipTextFeature: [Float]? = nil) {
        self.label = label
        self.source = source
        self.clipTextFeature = clipTextFeature
    }

    public var isTrained: Bool { source == .trained }
}
