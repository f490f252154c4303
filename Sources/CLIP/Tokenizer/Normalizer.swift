/// CLIP's text cleaning, the first stage of the tokenizer.
///
/// open_clip `tokenizer.py` (`clean="lower"`, the default of every CLIP model):
/// `whitespace_clean(basic_clean(text)).lower()`, where
/// `basic_clean` = `ftfy.fix_text`, `html.unescape` twice, `strip()`, and
/// `whitespace_clean` = `" ".join(text.split())`. The result is handed on as
/// Unicode scalars, the unit Python's `str` and the pre-tokenizer's pattern work in.
struct CLIPNormalizer: Sendable {
    func callAsFunction(_ text: String) -> [Unicode.Scalar] {
        var scalars = Array(text.unicodeScalars)
        scalars = TextFixer.fixText(scalars)
        scalars = HTMLUnescape.pythonUnescape(HTMLUnescape.pythonUnescape(scalars))
        return lowercased(collapsingWhitespace(scalars))
    }

    /// Python `str.isspace()`: the Unicode White_Space property plus the separators
    /// U+001C...U+001F (bidirectional class B or S), which Python also splits on.
    static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    /// `" ".join(text.split())`: strips both ends and makes every whitespace run one space.
    func collapsingWhitespace(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var pendingSpace = false
        for scalar in text {
            if Self.isPythonWhitespace(scalar) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(scalar)
            }
        }
        return out
    }

    /// Python `str.lower()`: the full lower-case mapping of each scalar (`İ` becomes
    /// `i̇`), with capital sigma written final (`ς`) at the end of a word, the one
    /// context rule Python applies (Objects/unicodeobject.c, `handle_capital_sigma`).
    func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, scalar) in text.enumerated() {
            if scalar.isASCII {
                out.append(("A"..."Z").contains(scalar) ? Unicode.Scalar(scalar.value + 32)! : scalar)
            } else if scalar == "\u{03A3}" {
                out.append(isFinalSigma(text, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// Final_Sigma: `\p{cased} \p{case-ignorable}* Σ` not followed by `\p{case-ignorable}* \p{cased}`.
    private func isFinalSigma(_ text: [Unicode.Scalar], at index: Int) -> Bool {
        var j = index - 1
        while j >= 0 && text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && text[j].properties.isCased else { return false }
        j = index + 1
        while j < text.count && text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }
}
