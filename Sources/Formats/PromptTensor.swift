// A named tensor of a snapshot's prompt parameters, as the trainer lays them out and the store
// keeps them (Migrations/0005_prompt_tensor.sql).

/// One named tensor of MaPLe's prompt parameters: a deep text prompt (`deep_text.1`, ...:
/// [nctx, Wt]) or a coupling layer's weight or bias (`vision_proj.weight` [Wv, Wt],
/// `vision_proj.bias` [Wv], `deep_proj.1.weight`, ...). Values are row-major.
public struct PromptTensor: Codable, Sendable, Equatable {
    public var name: String
    /// Sizes, outermost first; [] for a scalar.
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// The number of values a tensor of `shape` holds; nil when a size is below 1 or the count
    /// does not fit an Int.
    public static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 1 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= Int.max / 4 else { return nil }
            count = product
        }
        return count
    }

}
