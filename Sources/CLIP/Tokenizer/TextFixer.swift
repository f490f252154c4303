import Foundation

/// The part of `ftfy.fix_text` (ftfy 6.3, default `TextFixerConfig`) that CLIP's
/// text cleaning relies on (open_clip `tokenizer.basic_clean`), over Unicode scalars.
///
/// Reproduced, in ftfy's order and repeated until the text stops changing
/// (`ftfy.fix_and_explain`), on each line separately (`ftfy.fix_text`):
/// HTML unescaping (skipped from the first line that contains `<` on, as ftfy's
/// "auto" setting does), C1 controls read as Windows-1252, Latin ligatures taken
/// apart, full-width and half-width forms made normal width, curly quotes made
/// straight, line breaks made `\n`, terminal escapes and unwanted control
/// characters removed, NFC normalisation.
///
/// Deliberate gaps:
/// - ftfy's mojibake repair (`fix_encoding`: re-decoding text that was decoded in
///   the wrong single-byte encoding, `restore_byte_a0`, `replace_lossy_sequences`,
///   `decode_inconsistent_utf8`) is not reproduced: it rests on ftfy's statistical
///   "badness" heuristic. Text such as `cafÃ©` is tokenized as written, where
///   open_clip would first turn it into `café`. The saved test answers are checked,
///   when they are made, not to need it (Tools/make_tokenizer_answers.py).
/// - `fix_surrogates` has nothing to do: a Swift string cannot hold lone surrogates.
enum TextFixer {
    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != "\n" { end += 1 }
            if end < text.count { end += 1 }  // the segment keeps its "\n"
            let segment = Array(text[start..<end])
            // ftfy.fix_text turns the "auto" setting off for good once a segment holds "<".
            if segment.contains("<") { unescapeHTML = false }
            out.append(contentsOf: fixSegment(segment, unescapeHTML: unescapeHTML))
            start = end
        }
        return out
    }

    /// ftfy `fix_and_explain` without `fix_encoding`.
    static func fixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var text = segment
        while true {
            let original = text
            if unescapeHTML { text = HTMLUnescape.ftfyUnescape(text) }
            text = fixC1Controls(text)
            text = fixLatinLigatures(text)
            text = fixCharacterWidth(text)
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text = removeControlCharacters(text)
            text = nfc(text)
            if text == original { return text }
        }
    }

    /// `fix_c1_controls`: U+0080...U+009F read as the Windows-1252 bytes they most likely were
    /// (ftfy's "sloppy" Windows-1252 keeps the five undefined ones, as the HTML table does).
    static func fixC1Controls(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        text.map { (0x80...0x9F).contains($0.value) ? HTMLEntityTable.invalidCharacterReferences[$0.value]! : $0 }
    }

    /// ftfy `chardata.LIGATURES`: Latin typographic ligatures and legacy digraphs (not æ or œ).
    private static let ligatures: [Unicode.Scalar: String] = [
        "\u{0132}": "IJ", "\u{0133}": "ij", "\u{0149}": "\u{02BC}n",
        "\u{01F1}": "DZ", "\u{01F2}": "Dz", "\u{01F3}": "dz",
        "\u{01C4}": "D\u{017D}", "\u{01C5}": "D\u{017E}", "\u{01C6}": "d\u{017E}",
        "\u{01C7}": "LJ", "\u{01C8}": "Lj", "\u{01C9}": "lj",
        "\u{01CA}": "NJ", "\u{01CB}": "Nj", "\u{01CC}": "nj",
        "\u{FB00}": "ff", "\u{FB01}": "fi", "\u{FB02}": "fl", "\u{FB03}": "ffi",
        "\u{FB04}": "ffl", "\u{FB05}": "\u{017F}t", "\u{FB06}": "st",
    ]

    static func fixLatinLigatures(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacing(text, with: ligatures)
    }

    /// ftfy `chardata.WIDTH_MAP`: U+3000 is a space, and U+FF01...U+FFEF become their
    /// NFKC form where it differs (ASCII, katakana, Hangul jamo, signs).
    private static let widthMap: [Unicode.Scalar: String] = {
        var table: [Unicode.Scalar: String] = ["\u{3000}": " "]
        for value in UInt32(0xFF01)..<0xFFF0 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let character = String(Character(scalar))
            let alternate = character.precomposedStringWithCompatibilityMapping
            if alternate != character { table[scalar] = alternate }
        }
        return table
    }()

    static func fixCharacterWidth(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacing(text, with: widthMap)
    }

    /// `uncurl_quotes`: U+02BC and U+2018...U+201B become `'`, U+201C...U+201F become `"`.
    static func uncurlQuotes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        text.map { scalar in
            switch scalar.value {
            case 0x02BC, 0x2018...0x201B: return "'"
            case 0x201C...0x201F: return "\""
            default: return scalar
            }
        }
    }

    /// `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and U+0085 become `\n`.
    static func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            switch text[i] {
            case "\r":
                out.append("\n")
                if i + 1 < text.count && text[i + 1] == "\n" { i += 1 }
            case "\u{2028}", "\u{2029}", "\u{85}":
                out.append("\n")
            default:
                out.append(text[i])
            }
            i += 1
        }
        return out
    }

    /// `remove_terminal_escapes`: removes matches of `\033\[((?:\d|;)*)([a-zA-Z])`
    /// (Python's `\d` is any decimal digit, not only ASCII).
    static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count && (text[j] == ";" || text[j].properties.numericType == .decimal) { j += 1 }
                if j < text.count && text[j].isASCII && text[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// `remove_control_chars` (ftfy `chardata.CONTROL_CHARS`): C0 controls other than
    /// tab, line feed, form feed and carriage return, DEL, the deprecated Arabic format
    /// controls U+206A...U+206F, the byte order mark, and U+FFF9...U+FFFC.
    static func removeControlCharacters(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        text.filter { scalar in
            switch scalar.value {
            case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return false
            default: return true
            }
        }
    }

    /// Unicode NFC. Every scalar that NFC can change or combine is U+0300 or above,
    /// so text below that is returned as it is without a round trip through Foundation.
    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { $0.value >= 0x300 }) else { return text }
        let string = String(String.UnicodeScalarView(text))
        return Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    private static func replacing(_ text: [Unicode.Scalar], with table: [Unicode.Scalar: String]) -> [Unicode.Scalar] {
        guard text.contains(where: { $0.value >= 0x100 && table[$0] != nil }) else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            if let replacement = table[scalar] { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return out
    }
}
