import Testing
@testable import CLIP

@Suite struct ByteToUnicodeTests {
    @Test func everyByteHasItsOwnCharacter() {
        #expect(ByteToUnicode.scalars.count == 256)
        #expect(Set(ByteToUnicode.scalars).count == 256)
        for (byte, scalar) in ByteToUnicode.scalars.enumerated() {
            #expect(ByteToUnicode.bytes[scalar] == UInt8(byte))
        }
    }

    @Test func printableLatin1BytesStandForThemselves() {
        for byte in Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF) {
            #expect(ByteToUnicode.scalars[byte].value == UInt32(byte))
        }
    }

    /// The other 68 bytes take U+0100 onwards in byte order: GPT-2's `Ġ` is the space
    /// and `Ċ` the line feed, as the vocabulary files spell them.
    @Test func otherBytesTakeCharactersFromU0100InOrder() {
        #expect(ByteToUnicode.scalars[0x00] == "\u{0100}")
        #expect(ByteToUnicode.scalars[0x0A] == "\u{010A}")
        #expect(ByteToUnicode.scalars[0x20] == "\u{0120}")
        #expect(ByteToUnicode.scalars[0x7F] == "\u{0121}")
        #expect(ByteToUnicode.scalars[0xA0] == "\u{0142}")
        #expect(ByteToUnicode.scalars[0xAD] == "\u{0143}")
        let moved = ByteToUnicode.scalars.filter { $0.value >= 0x100 }
        #expect(moved.map(\.value) == Array(0x100..<(0x100 + 68)))
    }

    @Test func noCharacterIsWhitespaceOrControl() {
        for scalar in ByteToUnicode.scalars {
            #expect(!scalar.properties.isWhitespace)
            #expect(scalar.properties.generalCategory != .control)
        }
    }
}

extension ByteToUnicodeTests {
    /// open_clip's vocabulary lists the byte characters in table order: `!` is id 0, `Ā` (byte 0) id 188.
    @Test func tableOrderPutsPrintableBytesFirst() {
        #expect(ByteToUnicode.tableOrder.count == 256)
        #expect(Set(ByteToUnicode.tableOrder).count == 256)
        #expect(ByteToUnicode.tableOrder.first == 0x21)
        #expect(ByteToUnicode.tableOrder[187] == 0xFF)
        #expect(ByteToUnicode.tableOrder[188] == 0x00)
        #expect(ByteToUnicode.tableOrder.last == 0xAD)
    }
}
