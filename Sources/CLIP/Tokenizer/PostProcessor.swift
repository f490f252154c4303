/// Frames encoded text for the text tower: start of text, the ids, end of text.
///
/// open_clip `SimpleTokenizer.__call__` (and OpenAI CLIP's `clip.tokenize`): a text
/// longer than the context is cut to its first `contextLength` places and the
/// last place is overwritten with end of text, so the end-of-text position the
/// text tower pools at always exists. Padding is left to the caller.
struct CLIPPostProcessor: Sendable {
    let startOfText: Int
    let endOfText: Int

    func callAsFunction(_ ids: [Int], text: String, contextLength: Int, truncate: Bool) throws -> [Int] {
        guard contextLength >= 2 else { throw TokenizerError.invalidContextLength(contextLength) }
        let count = ids.count + 2
        if count <= contextLength { return [startOfText] + ids + [endOfText] }
        guard truncate else {
            throw TokenizerError.textTooLong(text: text, tokenCount: count, contextLength: contextLength)
        }
        return [startOfText] + ids.prefix(contextLength - 2) + [endOfText]
    }
}
