/// The two HTML unescapers of CLIP's text cleaning, over Unicode scalars.
///
/// open_clip `tokenizer.basic_clean` runs `ftfy.fix_text` (whose first fixer is
/// `ftfy.fixes.unescape_html`) and then Python's `html.unescape` twice. The two
/// differ: ftfy only decodes complete `&name;` references (plus all-caps
/// spellings such as `&EACUTE;`), Python also decodes references without a
/// semicolon and the longest known prefix of an unknown name (`&notit;` is
/// `¬it;`). Both are reproduced here with the tables of HTMLEntityTable.swift.
enum HTMLUnescape {
    /// Python `html.entities.html5`, keyed by the name with or without its `;`.
    private static let html5: [String: [Unicode.Scalar]] = parse(HTMLEntityTable.html5)

    /// ftfy `HTML_ENTITIES`: the `;`-terminated html5 names plus ftfy's all-caps names.
    private static let ftfyEntities: [String: [Unicode.Scalar]] = {
        var table = parse(HTMLEntityTable.ftfyUppercase)
        for (name, value) in html5 where name.hasSuffix(";") { table[name] = value }
        return table
    }()

    /// Python's pattern reads at most 32 name characters (the longest WHATWG name).
    private static let longestName = 32

    private static func parse(_ lines: String) -> [String: [Unicode.Scalar]] {
        var table: [String: [Unicode.Scalar]] = [:]
        for line in lines.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            table[String(line[..<space])] = Array(line[line.index(after: space)...].unicodeScalars)
        }
        return table
    }

    // MARK: ftfy.fixes.unescape_html

    /// ftfy's unescaper: each match of `&#?[0-9A-Za-z]{1,24};` is replaced if it is a
    /// known entity, or, for `&#...;`, if Python decodes the whole reference.
    static func ftfyUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacingReferences(in: text) { text, start in
            guard let end = ftfyReferenceEnd(text, from: start) else { return nil }
            let reference = Array(text[start..<end])
            let name = String(String.UnicodeScalarView(reference.dropFirst()))
            if let value = ftfyEntities[name] { return (end, value) }
            if reference[1] == "#" {
                let decoded = pythonUnescape(reference)
                // A partly decoded reference (a `;` left over) is kept as written.
                return (end, decoded.contains(";") ? reference : decoded)
            }
            return (end, reference)
        }
    }

    /// The end (past the `;`) of a match of `&#?[0-9A-Za-z]{1,24};` at `start`, or nil.
    private static func ftfyReferenceEnd(_ text: [Unicode.Scalar], from start: Int) -> Int? {
        var j = start + 1
        if j < text.count && text[j] == "#" { j += 1 }
        let first = j
        while j < text.count && j - first <= 24 && isASCIIAlphanumeric(text[j]) { j += 1 }
        let count = j - first
        guard count >= 1 && count <= 24, j < text.count, text[j] == ";" else { return nil }
        return j + 1
    }

    // MARK: Python html.unescape

    /// Python's `html.unescape` (Lib/html/__init__.py): references matching
    /// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` are decoded as the
    /// HTML standard says.
    static func pythonUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        replacingReferences(in: text, decodeReference)
    }

    /// Both unescapers scan left to right like `re.sub`: where `decode` matches at an `&`,
    /// its value replaces the match and the scan resumes after it.
    private static func replacingReferences(
        in text: [Unicode.Scalar],
        _ decode: ([Unicode.Scalar], Int) -> (end: Int, value: [Unicode.Scalar])?
    ) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == "&", let (end, value) = decode(text, i) {
                out.append(contentsOf: value)
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// Decodes the reference starting with `&` at `start`; nil when the pattern does not match there.
    private static func decodeReference(_ text: [Unicode.Scalar], _ start: Int) -> (end: Int, value: [Unicode.Scalar])? {
        var j = start + 1
        guard j < text.count else { return nil }
        if text[j] == "#" {
            j += 1
            var radix: UInt32 = 10
            if j < text.count, isASCIIDigit(text[j]) {
                radix = 10
            } else if j + 1 < text.count, text[j] == "x" || text[j] == "X", hexValue(text[j + 1]) != nil {
                radix = 16
                j += 1
            } else {
                return nil
            }
            // Python converts with int(), which never overflows; saturating past the
            // largest code point gives the same answer (U+FFFD).
            var number: UInt32 = 0
            while j < text.count, let digit = radix == 16 ? hexValue(text[j]) : decimalValue(text[j]) {
                number = number > 0x11_0000 ? number : number * radix + digit
                j += 1
            }
            if j < text.count && text[j] == ";" { j += 1 }
            return (j, numericReference(number))
        }
        let first = j
        while j < text.count, j - first < longestName, !endsName(text[j]) { j += 1 }
        guard j > first else { return nil }
        if j < text.count && text[j] == ";" { j += 1 }
        let name = Array(text[first..<j])
        if let value = html5[String(String.UnicodeScalarView(name))] { return (j, value) }
        // The longest known prefix, then the rest as written (the standard's rule for legacy names).
        var length = name.count - 1
        while length > 1 {
            if let value = html5[String(String.UnicodeScalarView(name[..<length]))] {
                return (j, value + name[length...])
            }
            length -= 1
        }
        return (j, ["&"] + name)
    }

    /// Python `html._replace_charref` for `&#...;`.
    private static func numericReference(_ number: UInt32) -> [Unicode.Scalar] {
        if let replacement = HTMLEntityTable.invalidCharacterReferences[number] { return [replacement] }
        if (0xD800...0xDFFF).contains(number) || number > 0x10_FFFF { return ["\u{FFFD}"] }
        if HTMLEntityTable.invalidCodePoints.contains(number) { return [] }
        return [Unicode.Scalar(number)!]
    }

    private static func endsName(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    private static func isASCIIDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("0"..."9").contains(scalar) || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }

    private static func decimalValue(_ scalar: Unicode.Scalar) -> UInt32? {
        isASCIIDigit(scalar) ? scalar.value - 0x30 : nil
    }

    private static func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "0"..."9": return scalar.value - 0x30
        case "a"..."f": return scalar.value - 0x61 + 10
        case "A"..."F": return scalar.value - 0x41 + 10
        default: return nil
        }
    }
}
