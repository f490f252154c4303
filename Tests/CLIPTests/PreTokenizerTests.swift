import Testing
@testable import CLIP

@Suite struct PreTokenizerTests {
    /// The scalars the `regex` module matches, under IGNORECASE, for each letter of the
    /// pattern's literals (`<|startoftext|>`, `<|endoftext|>`, the contractions), found by
    /// trying every code point with regex 2026.11.19: only `ſ` (U+017F) joins `s` and `S`.
    @Test func literalsIgnoreCaseAsTheRegexModuleDoes() {
        let literals: [Unicode.Scalar] = ["'", "<", ">", "|", "a", "d", "e", "f", "l", "m", "n", "o", "r", "s", "t", "v", "x"]
        for literal in literals {
            var expected: Set<UInt32> = [literal.value]
            if literal.properties.isLowercase { expected.insert(literal.value - 32) }
            if literal == "s" { expected.insert(0x17F) }
            var found: Set<UInt32> = []
            for value in UInt32(0)..<0x1_0000 {
                if let scalar = Unicode.Scalar(value), CLIPPreTokenizer.equalIgnoringCase(scalar, literal) { found.insert(value) }
            }
            #expect(found == expected, "\(literal)")
        }
    }

    @Test func splitsLikeCLIPsPattern() {
        let preTokenizer = CLIPPreTokenizer(specialTokens: [("<|startoftext|>", 1), ("<|endoftext|>", 2)])
        func pieces(_ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return preTokenizer(scalars).map { piece in
                switch piece {
                case .special(let id): return "#\(id)"
                case .word(let range): return String(String.UnicodeScalarView(scalars[range]))
                }
            }
        }
        #expect(pieces("it's a dog's 12th") == ["it", "'s", "a", "dog", "'s", "1", "2", "th"])
        #expect(pieces("?'s ''re x'ſ") == ["?'", "s", "''", "re", "x", "'ſ"])
        #expect(pieces("a<|endoftext|>b!!<|startoftext|>") == ["a", "#2", "b", "!!<|", "startoftext", "|>"])
        #expect(pieces("ﬁ½e\u{301}") == ["ﬁ", "½", "e", "\u{301}"])
        #expect(pieces("a\u{345}b .\u{345}.") == ["a", "b", ".", "."])
    }
}
