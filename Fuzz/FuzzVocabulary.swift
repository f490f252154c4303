import CZlib
import Foundation

/// Vocabulary files: the first byte chooses the layout, the rest is the file's content.
/// - 0: Hugging Face, `vocab.json` and `merges.txt` separated by the first NUL byte;
/// - 1: open_clip, the merges text, wrapped in gzip here so that its lines are what varies;
/// - 2: open_clip, the `.gz` file's bytes as given.
/// A vocabulary that loads must encode a few words to ids it has.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = inputData(start, count)
    guard let layout = data.first else { return 0 }
    let content = data.dropFirst()
    let tokenizer: CLIPTokenizer
    do {
        switch layout % 3 {
        case 0:
            let vocabulary = scratchFile("\(inputName)-vocab.json"), merges = scratchFile("\(inputName)-merges.txt")
            let separator = content.firstIndex(of: 0) ?? content.endIndex
            writeScratch(Data(content[..<separator]), to: vocabulary)
            writeScratch(Data(content[separator...].dropFirst()), to: merges)
            tokenizer = try CLIPTokenizer(vocabularyJSON: vocabulary, merges: merges)
        default:
            let gzip = scratchFile("\(inputName).txt.gz")
            writeScratch(layout % 3 == 1 ? gzipped(Data(content)) : Data(content), to: gzip)
            tokenizer = try CLIPTokenizer(openCLIPVocabulary: gzip)
        }
    } catch {
        expectNamed(error, inputName)
        return 0
    }
    for text in ["a photo of a cat.", "<|startoftext|>Ünïcödé 42 &amp; 's</w>"] {
        let ids = tokenizer.encode(text)
        if let id = ids.first(where: { !(0..<tokenizer.vocabularySize).contains($0) }) {
            fatalError("id \(id) is outside the vocabulary of \(tokenizer.vocabularySize)")
        }
        _ = tokenizer.decode(ids)
    }
    return 0
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks, so that the merges text
/// reaches the reader byte for byte.
private func gzipped(_ data: Data) -> Data {
    var out = Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])
    var rest = data[...]
    repeat {
        let block = rest.prefix(0xFFFF)
        rest = rest.dropFirst(block.count)
        let length = UInt16(block.count)
        out.append(rest.isEmpty ? 1 : 0)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)])
        out.append(block)
    } while !rest.isEmpty
    let crc = data.withUnsafeBytes { crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count)) }
    for field in [UInt32(crc), UInt32(truncatingIfNeeded: data.count)] {
        out.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: field >> (8 * $0)) })
    }
    return out
}
