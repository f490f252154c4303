import CLIP
import Formats

/// CLIP's prompt `a photo of a <class>.` as token rows (LAMM.md, Notation):
/// `y_i = [SOT][a][photo][of][a][class-name tokens of i][.][EOT]`, and LAMM's
/// `z_i`, the same prompt with the class-name rows replaced by the label vectors `<M_i>`.
///
/// The pieces are tokenised separately and joined, so the class-name tokens of `y_i` are
/// exactly `encode(class name)` (a class name ending in punctuation cannot merge with the
/// final period).
public struct PromptTemplate: Sendable, Equatable {
    public let startOfText: Int
    public let endOfText: Int
    /// `encode("a photo of a")`.
    public let prefix: [Int]
    /// `encode(".")`.
    public let suffix: [Int]
    public let contextLength: Int
    /// The template as text, `{}` where the class name goes (stored with every snapshot).
    public let text: String

    /// A template from token ids (for callers that have no tokenizer files, such as benchmarks).
    public init(startOfText: Int, endOfText: Int, prefix: [Int], suffix: [Int], contextLength: Int = 77,
                text: String? = nil) {
        self.text = text ?? "<\(prefix.count) tokens> {}<\(suffix.count) tokens>"
        self.startOfText = startOfText
        self.endOfText = endOfText
        self.prefix = prefix
        self.suffix = suffix
        self.contextLength = contextLength
    }

    public init(tokenizer: CLIPTokenizer, prefix: String = "a photo of a", suffix: String = ".", contextLength: Int = 77) {
        startOfText = tokenizer.startOfText
        endOfText = tokenizer.endOfText
        self.prefix = tokenizer.encode(prefix)
        self.suffix = tokenizer.encode(suffix)
        self.contextLength = contextLength
        text = "\(prefix) {}\(suffix)"
    }

    /// Rows around the label: SOT, prefix, suffix and EOT.
    public var frameLength: Int { prefix.count + suffix.count + 2 }

    /// The most label tokens a prompt can hold.
    public var maximumLabelTokens: Int { contextLength - frameLength }

    /// Position of the first label row in the prompt.
    public var labelStart: Int { 1 + prefix.count }

    /// `y_i`: the original prompt's token ids, from SOT to EOT.
    public func tokenIDs(label: [Int]) -> [Int] {
        [startOfText] + prefix + label + suffix + [endOfText]
    }

    /// A prompt whose label rows are the given rows (token ids or trainable vectors). A learned
    /// context (CoOp's `[V]_1 ... [V]_M`) takes the place of the prefix words.
    public func prompt(context: [PromptRow]? = nil, label: [PromptRow]) -> PromptRows {
        PromptRows([.token(startOfText)] + (context ?? prefix.map { .token($0) }) + label + suffix.map { .token($0) } + [.token(endOfText)])
    }

    /// A prompt whose first words are learned (MaPLe's context): `context` takes the place of
    /// the prefix's first `context.count` words and the rest stay (n = 2 leaves `of a`).
    public func prompt(leadingContext context: [PromptRow], label: [PromptRow]) -> PromptRows {
        PromptRows([.token(startOfText)] + context + prefix.dropFirst(context.count).map { .token($0) } + label
                   + suffix.map { .token($0) } + [.token(endOfText)])
    }

    /// Rows of a prompt with `contextCount` leading context vectors and `labelCount` label rows.
    public func promptLength(leadingContext contextCount: Int, labelCount: Int) -> Int {
        2 + max(contextCount, prefix.count) + labelCount + suffix.count
    }

    /// `z_i` with every label row taken from the caller's vector matrix, starting at row `firstVector`.
    public func prompt(vectorRows count: Int, firstVector: Int) -> PromptRows {
        prompt(label: (0..<count).map { .vector(index: firstVector + $0) })
    }
}

/// A class's label tokens: the class name's token ids and their word embeddings, `tokens x width`.
public struct ClassLabel: Sendable, Equatable {
    public var name: String
    public var tokenIDs: [Int]

    public init(name: String, tokenIDs: [Int]) {
        self.name = name
        self.tokenIDs = tokenIDs
    }
}

public enum PromptError: Error, Equatable, CustomStringConvertible {
    case emptyLabel(className: String)
    case labelTooLong(className: String, tokens: Int, maximum: Int)

    public var description: String {
        switch self {
        case let .emptyLabel(name):
            return "class '\(displayName(name))' has no tokens in the model's vocabulary; give it a name made of words."
        case let .labelTooLong(name, tokens, maximum):
            return "class '\(displayName(name))' has \(tokens) tokens, but the prompt has room for \(maximum); shorten the class name."
        }
    }
}

extension PromptTemplate {
    /// The class name's label tokens, checked to fit the context.
    public func label(for className: String, tokenizer: CLIPTokenizer) throws -> ClassLabel {
        let ids = tokenizer.encode(className)
        guard !ids.isEmpty else { throw PromptError.emptyLabel(className: className) }
        guard ids.count <= maximumLabelTokens else {
            throw PromptError.labelTooLong(className: className, tokens: ids.count, maximum: maximumLabelTokens)
        }
        return ClassLabel(name: className, tokenIDs: ids)
    }
}
