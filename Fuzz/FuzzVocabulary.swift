import CZlib
import Foundation

/// Vocabulary files: the first byte chooses the layout, the rest is the file's content.
/// - 0: Hugging Face, `vocab.json` and `merges.txt` separated by the first NUL byte;
/// - 1: open_clip, the merges text, gzip-compressed here so that its lines are what varies;
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

/// `data` as a gzip stream (zlib's deflate with a gzip wrapper: window bits 16 + 15).
private func gzipped(_ data: Data) -> Data {
    var stream = z_stream()
    guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                        zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("zlib cannot start deflate")
    }
    defer { deflateEnd(&stream) }
    var input = [UInt8](data)
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
    let status = input.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    guard status == Z_STREAM_END else { fatalError("deflate did not finish (status \(status))") }
    return Data(output.prefix(Int(stream.total_out)))
}
