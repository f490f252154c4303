// What a method trains besides LAMM's label vectors: nothing (LAMM), CoOp's shared context, or
// MaPLe's prompts of both towers. One type lays out those parameters as one vector for SGD,
// builds the prompts around the label rows, and carries the towers' gradients back to them.
//
// Every prompt reads the parameters' context as the first rows of the text tower's vector
// matrix: [context (n rows), trained label rows, fixed label rows].

import CLIP
import Methods

public enum PromptParameters: Sendable, Equatable {
    /// LAMM: the template's own words around the label.
    case template
    /// CoOp's context `[V]_1 ... [V]_n` [n, W], in place of the template's prefix words.
    case context([Float], width: Int)
    /// MaPLe's context (in place of the prefix's first n words), deep prompts and coupling maps.
    case maple(MaPLePrompts)

    /// New parameters for a method: none for LAMM; for CoOp the words of the template's prefix
    /// (`ctx_init`) when the context is as long, else N(0, 0.02^2); for MaPLe the prefix's first
    /// n words (`a photo` for n = 2) when it has that many, else N(0, 0.02^2), and new deep
    /// prompts and coupling maps.
    static func initial(method: Method, configuration: LAMMConfiguration, template: PromptTemplate, textWidth: Int,
                        visionWidth: Int?, tokenEmbedding: (Int) -> [Float], random: inout SplitMix64) -> PromptParameters {
        let n = configuration.contextLength
        if method.promptsBothTowers {
            let words = n <= template.prefix.count ? template.prefix.prefix(n).flatMap(tokenEmbedding) : nil
            return .maple(MaPLePrompts.initial(contextLength: n, depth: configuration.promptDepth, textWidth: textWidth,
                                               visionWidth: visionWidth!, contextInit: words, random: &random))
        }
        guard method.trainsContext else { return .template }
        if n == template.prefix.count { return .context(template.prefix.flatMap(tokenEmbedding), width: textWidth) }
        return .context((0..<(n * textWidth)).map { _ in 0.02 * random.nextGaussian() }, width: textWidth)
    }

    /// Rows of the vector matrix the context takes: n, or 0 for the template's words.
    public var contextRows: Int {
        switch self {
        case .template: 0
        case let .context(values, width): values.count / width
        case let .maple(prompts): prompts.contextLength
        }
    }

    /// The context vectors [n, W], for the methods that have one.
    public var context: [Float]? {
        switch self {
        case .template: nil
        case let .context(values, _): values
        case let .maple(prompts): prompts.context
        }
    }

    public var maplePrompts: MaPLePrompts? {
        if case let .maple(prompts) = self { return prompts }
        return nil
    }

    // MARK: Prompts

    /// A class's prompt around its label rows, the context read from vector rows 0 ..< n.
    public func prompt(_ template: PromptTemplate, label: [PromptRow]) -> PromptRows {
        let context: [PromptRow] = (0..<contextRows).map { .vector(index: $0) }
        switch self {
        case .template: return template.prompt(label: label)
        case .context: return template.prompt(context: context, label: label)
        case .maple: return template.prompt(leadingContext: context, label: label)
        }
    }

    /// Rows of the prompt a method builds for a label of `labelCount` tokens with a context of
    /// `contextLength` vectors: CoOp's takes the place of the prefix, MaPLe's of its first words.
    public static func promptLength(method: Method, contextLength: Int, template: PromptTemplate, labelCount: Int) -> Int {
        if method.promptsBothTowers { return template.promptLength(leadingContext: contextLength, labelCount: labelCount) }
        if method.trainsContext { return template.frameLength - template.prefix.count + contextLength + labelCount }
        return template.frameLength + labelCount
    }

    /// The text tower's deep prompts (MaPLe at depth > 1).
    public var textDeepPrompts: TextDeepPrompts? { maplePrompts?.textDeepPrompts }

    /// The image tower's prompts (MaPLe), through the coupling maps.
    public var visionPrompts: VisionPrompts? { maplePrompts?.visionPrompts }

    // MARK: As one vector (for SGD)

    /// Every trained value: the context, then (MaPLe) the deep prompts and coupling maps.
    public var flattened: [Float] {
        switch self {
        case .template: []
        case let .context(values, _): values
        case let .maple(prompts): prompts.flattened
        }
    }

    public var parameterCount: Int {
        switch self {
        case .template: 0
        case let .context(values, _): values.count
        case let .maple(prompts): prompts.parameterCount
        }
    }

    /// The same parameters holding `values` (laid out as `flattened`).
    public func assigning(_ values: ArraySlice<Float>) -> PromptParameters {
        precondition(values.count == parameterCount, "PromptParameters: \(values.count) values for \(parameterCount) parameters")
        switch self {
        case .template: return .template
        case let .context(_, width): return .context(Array(values), width: width)
        case let .maple(prompts): return .maple(prompts.assigning(values))
        }
    }

    /// The gradient with respect to `flattened`, from the text tower's gradients (of the vector
    /// matrix and the deep prompts) and, for MaPLe, the image tower's of its prompts.
    func gradient(text: TextTowerGradients, vision: VisionPromptGradients?) -> [Float] {
        switch self {
        case .template: return []
        case let .context(values, _): return Array(text.vectors[0..<values.count])
        case let .maple(prompts):
            let dContext = Array(text.vectors[0..<prompts.context.count])
            return prompts.gradient(dContext: dContext, dDeepText: text.deep, vision: vision!)
        }
    }
}
