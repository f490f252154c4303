/// Turns ids back into text or into the vocabulary's token strings.
///
/// open_clip `SimpleTokenizer.decode`: the token strings are joined, each
/// character is mapped back to its byte (ByteToUnicode), the bytes are read as
/// UTF-8 with U+FFFD for invalid sequences, and every `</w>` becomes a space.
struct CLIPDecoder: Sendable {
    /// Token string of each id (index = id).
    let tokens: [String]

    /// Shown for ids outside the vocabulary, which have no string of their own.
    static let unknown = "\u{FFFD}"

    func tokenStrings(_ ids: [Int]) -> [String] {
        ids.map { tokens.indices.contains($0) ? tokens[$0] : Self.unknown }
    }

    func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for token in tokenStrings(ids) {
            for scalar in token.unicodeScalars {
                if let byte = ByteToUnicode.bytes[scalar] {
                    bytes.append(byte)
                } else {
                    // Not a byte character (only a malformed vocabulary has these): keep it as written.
                    bytes.append(contentsOf: String(Character(scalar)).utf8)
                }
            }
        }
        return Self.replacingEndOfWord(String(decoding: bytes, as: UTF8.self))
    }

    /// Every `</w>` becomes a space, matched scalar by scalar: a combining mark after
    /// `>` would hide the match from a comparison of `Character`s.
    static func replacingEndOfWord(_ text: String) -> String {
        let mark: [Unicode.Scalar] = ["<", "/", "w", ">"]
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "<" && scalars[i...].starts(with: mark) {
                out.append(" ")
                i += mark.count
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }
}
