/// The reversible byte-to-character table of byte-level BPE.
///
/// CLIP's BPE (open_clip `tokenizer.py`, `bytes_to_unicode`, from OpenAI CLIP and
/// GPT-2) works on strings, not bytes, so every UTF-8 byte is given a printable
/// character: the 188 bytes that are printable in Latin-1 (`!`...`~`, `¡`...`¬`,
/// `®`...`ÿ`) stand for themselves, and the other 68 (controls, space, soft
/// hyphen) take the characters U+0100, U+0101, ... in byte order. The vocabulary
/// files are written in these characters. Public so that a vocabulary can be learned
/// in the same characters (the demo builds its own small one).
public enum ByteToUnicode {
    /// `scalars[b]` is the character that stands for byte `b`.
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `scalars`.
    static let bytes: [Unicode.Scalar: UInt8] = {
        var table: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in scalars.enumerated() { table[scalar] = UInt8(byte) }
        return table
    }()

    /// The character of byte `b` as a one-character string, as the vocabulary spells it.
    public static let strings: [String] = scalars.map { String(Character($0)) }

    /// The bytes in the order of `bytes_to_unicode().values()`: the printable ones, then the
    /// others. open_clip's vocabulary starts with the byte characters in this order.
    public static let tableOrder: [UInt8] = (0...255).filter { isPrintable($0) } + (0...255).filter { !isPrintable($0) }

    private static func isPrintable(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }
}
