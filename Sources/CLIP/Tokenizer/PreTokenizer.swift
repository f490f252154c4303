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
            } else if Self.isLetter(scalar) {
                var end = i + 1
                while end < text.count && Self.isLetter(text[end]) { end += 1 }
                pieces.append(.word(i..<end))
                i = end
            } else if Self.isNumber(scalar) {
                pieces.append(.word(i..<(i + 1)))
                i += 1
            } else if !scalar.properties.isWhitespace {
                var end = i + 1
                while end < text.count && !Self.isLetter(text[end]) && !Self.isNumber(text[end])
                    && !text[end].properties.isWhitespace
                {
                    end += 1
                }
                pieces.append(.word(i..<end))
                i = end
            } else {
                i += 1
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

    /// `\p{L}`: the letter categories Lu, Ll, Lt, Lm, Lo.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`: the number categories Nd, Nl, No.
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return ("0"..."9").contains(scalar) }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
}
