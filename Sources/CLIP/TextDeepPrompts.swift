// MaPLe's deep text prompts (Khattak et al., CVPR 2023; the official code's
// ResidualAttentionBlock_MaPLe with text_layer = true): the prompt rows that the context vectors
// fill at the input are replaced again, entering each of the first blocks after block 0, by that
// block's own learnable vectors. What those rows held after the previous block is dropped, so no
// gradient flows back through them.

/// Rows replaced at block entries: entering block l (1 ... layers.count), the rows at positions
/// `firstPosition ..< firstPosition + count` of every prompt become `layers[l - 1]` [count, W].
public struct TextDeepPrompts: Sendable, Equatable {
    public var firstPosition: Int
    public var count: Int
    public var layers: [[Float]]

    public init(firstPosition: Int, count: Int, layers: [[Float]]) {
        self.firstPosition = firstPosition
        self.count = count
        self.layers = layers
    }

    /// The positions the prompts replace.
    public var positions: Range<Int> { firstPosition..<(firstPosition + count) }

    /// The replacement of block `block`'s input rows, if that block has one.
    func replacement(enteringBlock block: Int) -> [Float]? {
        block >= 1 && block <= layers.count ? layers[block - 1] : nil
    }
}

/// Gradients of a text-tower pass with respect to what the caller trains.
public struct TextTowerGradients: Sendable {
    /// With respect to the spliced vectors [numVectors, W].
    public var vectors: [Float]
    /// With respect to each deep prompt, [count, W] per block (empty without deep prompts).
    public var deep: [[Float]]
}
