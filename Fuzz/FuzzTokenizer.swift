import Foundation

/// CLIP's vocabulary, as shipped (run from the package root, as scripts/fuzz does).
private let tokenizer: CLIPTokenizer = {
    let path = ProcessInfo.processInfo.environment["LAMM_FUZZ_VOCABULARY"]
        ?? "Sources/CLIP/Resources/bpe_simple_vocab_16e6.txt.gz"
    do {
        return try CLIPTokenizer(openCLIPVocabulary: URL(fileURLWithPath: path))
    } catch {
        fatalError("cannot load the vocabulary: \(error)")
    }
}()

/// Any bytes as text (invalid UTF-8 replaced, as a Swift String must): ids inside the
/// vocabulary, a framed and truncated context that fits, and a decode that does not trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = String(decoding: inputData(start, count), as: UTF8.self)
    let ids = tokenizer.encode(text)
    if let id = ids.first(where: { !(0..<tokenizer.vocabularySize).contains($0) }) {
        fatalError("id \(id) is outside the vocabulary")
    }
    do {
        let framed = try tokenizer.tokenize(text, contextLength: 77, truncate: true)
        if framed.count > 77 || framed.first != tokenizer.startOfText || framed.last != tokenizer.endOfText {
            fatalError("a truncated context of \(framed.count) ids is not framed by start and end of text")
        }
    } catch {
        fatalError("truncating tokenize threw \(error)")
    }
    _ = tokenizer.decode(ids)
    return 0
}
