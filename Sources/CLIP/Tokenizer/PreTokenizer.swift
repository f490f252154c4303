/// CLIP's pre-tokenizer: splits cleaned text into the pieces BPE works on.
///
/// It finds, left to right, the matches of OpenAI CLIP's pattern (simple_tokenizer.py,
/// also transformers' CLIPTokenizer), compiled case-insensitively:
///
///     <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
///
/// and drops what lies between them (whitespace). A scanner over Unicode scalars
/// and their general categories replaces the regular expression: at each place it
/// tries the alternatives in the pattern's order, as the regex engine does.
struct CLIPPreTokenizer: Sendable {
    enum Piece: Equatable {
        /// A special token written out in the text, matched by the first alternatives.
        case special(id: Int)
        /// Scalars `range` of the text, to be byte-pair encoded.
        case word(Range<Int>)
    }

    private let specialTokens: [(scalars: [Unicode.Scalar], id: Int)]

    /// `specialTokens`: the token strings the pattern matches whole (`<|startoftext|>`,
    /// `<|endoftext|>`), with their ids.
    init(specialTokens: [(String, Int)]) {
        self.specialTokens = specialTokens.map { (Array($0.0.unicodeScalars), $0.1) }
    }

    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map {
        Array($0.unicodeScalars)
    }

    func callAsFunction(_ text: [Unicode.Scalar]) -> [Piece] {
        var pieces: [Piece] = []
        var i = 0
        while i < text.count {
            let scalar = text[i]
            if scalar == "<", let special = specialTokens.first(where: { matches($0.scalars, text, at: i) }) {
                pieces.append(.special(id: special.id))
                i += special.scalars.count
            } else if scalar == "'", let suffix = Self.contractions.first(where: { matches($0, text, at: i + 1) }) {
                pieces.append(.word(i..<(i + 1 + suffix.count)))
                i += 1 + suffix.count
            } else {
                let kind = Self.kind(of: scalar)
                switch kind {
                case .letter, .symbol:
                    // `[\p{L}]+` or `[^\s\p{L}\p{N}]+`: the longest run of the same kind.
                    var end = i + 1
                    while end < text.count && Self.kind(of: text[end]) == kind { end += 1 }
                    pieces.append(.word(i..<end))
                    i = end
                case .number:
                    pieces.append(.word(i..<(i + 1)))
                    i += 1
                case .space, .unmatched:
                    i += 1
                }
            }
        }
        return pieces
    }

    /// Whether `literal` matches `text` at `start`, ignoring case the way the `regex`
    /// module's IGNORECASE does (simple case folding: `ſ` matches `s`, `K` matches `k`).
    private func matches(_ literal: [Unicode.Scalar], _ text: [Unicode.Scalar], at start: Int) -> Bool {
        guard start + literal.count <= text.count else { return false }
        for (offset, expected) in literal.enumerated() where !Self.equalIgnoringCase(text[start + offset], expected) {
            return false
        }
        return true
    }

    static func equalIgnoringCase(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Bool {
        if a == b { return true }
        if a.isASCII && b.isASCII { return a.properties.lowercaseMapping == b.properties.lowercaseMapping }
        let (pa, pb) = (a.properties, b.properties)
        return pa.lowercaseMapping.unicodeScalars.count == 1 && pa.lowercaseMapping == pb.lowercaseMapping
            || pa.uppercaseMapping.unicodeScalars.count == 1 && pa.uppercaseMapping == pb.uppercaseMapping
    }

    /// Which class of the pattern a scalar falls in.
    enum Kind: Equatable {
        case letter, number, symbol, space
        /// In none of the classes, so never part of a piece (see `kind(of:)`).
        case unmatched
    }

    /// `\p{L}` is the letter categories Lu, Ll, Lt, Lm, Lo; `\p{N}` the number categories
    /// Nd, Nl, No; `\s` the White_Space property; the rest are symbols. One exception comes
    /// from IGNORECASE: U+0345 COMBINING GREEK YPOGEGRAMMENI folds to the letter `ι`, so
    /// the `regex` module finds it in no class, neither `[\p{L}]` nor `[^\s\p{L}\p{N}]`,
    /// and open_clip drops it. (Checked over all code points with regex 2026.11.19; the
    /// only other differences are characters newer than this Swift's Unicode tables.)
    static func kind(of scalar: Unicode.Scalar) -> Kind {
        if scalar.isASCII {
            switch scalar {
            case "a"..."z", "A"..."Z": return .letter
            case "0"..."9": return .number
            default: return scalar.properties.isWhitespace ? .space : .symbol
            }
        }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default:
            if scalar == "\u{0345}" { return .unmatched }
            return scalar.properties.isWhitespace ? .space : .symbol
        }
    }
}
