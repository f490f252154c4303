/// The method a snapshot's label embeddings come from (LAMM.md: zero-shot CLIP, LAMM, CoOp,
/// CoOp+LAMM, MaPLe, MaPLe+LAMM). It sits in a module of its own so that the store can record it
/// and the trainer can act on it without either depending on the other.
public enum Method: String, Codable, Sendable, CaseIterable {
    case zeroshot, lamm, coop
    case coopLAMM = "coop+lamm"
    case maple
    case mapleLAMM = "maple+lamm"

    /// LAMM's part: each class's label vectors `<M_i>` are trained, with the hierarchical loss.
    public var trainsLabels: Bool {
        switch self {
        case .lamm, .coopLAMM, .mapleLAMM: true
        case .zeroshot, .coop, .maple: false
        }
    }

    /// CoOp's part: the context vectors shared by every class's prompt are trained.
    public var trainsContext: Bool {
        switch self {
        case .coop, .coopLAMM: true
        case .zeroshot, .lamm, .maple, .mapleLAMM: false
        }
    }

    /// MaPLe's part: prompts in both towers (context, deep prompts, coupling maps), trained through
    /// the image tower, so its stages need the images themselves.
    public var promptsBothTowers: Bool {
        switch self {
        case .maple, .mapleLAMM: true
        case .zeroshot, .lamm, .coop, .coopLAMM: false
        }
    }

    /// CoOp alone is trained with cross-entropy; adding LAMM brings the hierarchical loss.
    public var usesHierarchicalLoss: Bool { trainsLabels }
}
