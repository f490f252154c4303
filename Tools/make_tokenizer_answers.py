"""Saved answers for the CLIP tokenizer tests.

Runs the two reference tokenizers over every ImageNet class name, the same
names in the prompt `a photo of a {}.`, and hand-picked edge cases, and writes
Tests/Fixtures/tokenizer/clip_answers.json:

  header: library versions, context length, the rule for disagreements
  cases:  {text, ids, truncated, length, tokens, decoded, reference[, transformers_ids, note]}

and, for a vocabulary file with fewer merges in open_clip's layout,
Tests/Fixtures/tokenizer/tiny_vocab.txt.gz (the header and the first
TINY_MERGES merges of the real file, ending in a newline as such files
usually do) with open_clip's answers in tiny_answers.json.

`ids` carry SOT/EOT and are cut to 77 places the way open_clip cuts them
(first 76 ids, EOT at the last place). `length` is the untruncated count.

References:
  - open_clip.tokenizer.SimpleTokenizer (ftfy.fix_text, html.unescape twice,
    whitespace clean, lower case): the tokenizer CoOp and LAMM prompts go
    through. Its answer is the one the Swift tokenizer must give.
  - transformers.CLIPTokenizer on the same vocabulary in Hugging Face's
    layout (vocab.json + merges.txt, written from the .gz by
    `huggingface_layout` into a temporary folder). transformers 5 only ships the `tokenizers`-backed class
    (NFC, whitespace runs, lower case; no ftfy, no HTML unescape), so its
    answers differ wherever ftfy or the HTML unescape changes the text.
    Disagreements are kept in the case as `transformers_ids` with a note.

One deliberate exception: open_clip 3 names its special tokens
`<start_of_text>`/`<end_of_text>`, so it splits the literal text
`<|endoftext|>` into symbols; OpenAI's CLIP and transformers match it as the
special token, and so does the Swift tokenizer. Cases containing literal
special tokens use `reference: "transformers"`.

Cases that would depend on ftfy's mojibake repair (fix_encoding, which the
Swift tokenizer does not reproduce) are refused by an assertion below.

Run: /work/pyenv/bin/python Tools/make_tokenizer_answers.py
"""
import gzip
import json
import os
import sys

import ftfy
import open_clip
import regex
import tokenizers
import transformers
from open_clip import zero_shot_metadata
from open_clip.tokenizer import SimpleTokenizer
from transformers import CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_VOCAB = os.path.join(ROOT, "Sources", "CLIP", "Resources", "bpe_simple_vocab_16e6.txt.gz")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
OUT = os.path.join(FIXTURES, "clip_answers.json")
TINY_VOCAB = os.path.join(FIXTURES, "tiny_vocab.txt.gz")
TINY_ANSWERS = os.path.join(FIXTURES, "tiny_answers.json")
TINY_MERGES = 300
TINY_TEXTS = ["a photo of a dog.", "Hello, world!", "the quick brown fox", "Ünïcödé", "12 cats", "", "it's"]
CONTEXT_LENGTH = 77

SPECIAL_LITERALS = ("<|startoftext|>", "<|endoftext|>")

EDGE_CASES = [
    # punctuation
    "Hello, world!", "what?!...", "a--b", "(parenthesised) [brackets] {braces}",
    "e-mail@example.com", "C++ & C#", "100% sure", "$5.99", "snake_case_name",
    "path/to/file.txt", "#hashtag", "¡¿Qué?!", "...", "«guillemets»",
    # digits and numbers
    "1234567890", "3.14159", "2nd place", "1,000,000", "Ⅻ", "٣٤٥", "x² + y²", "½ cup",
    # apostrophes and contractions
    "it's", "IT'S", "dog'S bowl", "we're", "they've", "I'm", "we'll", "he'd",
    "can't", "WE'LL", "rock 'n' roll", "''s", "'sup", "o'clock", "don't stop'",
    "the dogs' bowls", "'re 've 'm 'll 'd 's 't", "x'ſ",
    # accents and combining marks
    "café", "cafe\u0301", "naïve résumé", "Ångström", "Zoë", "São Paulo",
    "façade", "x\u0301y", "\u0301alone", "Œuvre", "straße", "İstanbul",
    "ΟΔΟΣ", "Ñandú", "e\u0308\u0301", "ᾳ \u0345 a\u0345b",
    # curly quotes
    "\u201cquoted\u201d", "dog\u2019s bowl", "\u2018single\u2019", "it\u02bcs",
    "\u201elow\u201f", "DOG\u2019S",
    # ligatures
    "\ufb01sh \ufb02y", "o\ufb03ce", "\ufb05", "\u0132ssel", "\u01c5", "\ufb00\ufb04",
    # full-width and half-width forms
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33",
    "\uff76\uff80\uff76\uff85", "\uff11\uff12\uff13", "\uffe5100",
    # non-Latin scripts
    "日本語のテキスト", "中文字符", "한국어", "Привет, мир", "مرحبا بالعالم",
    "नमस्ते दुनिया", "emoji 😀👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "שלום", "ไทย",
    "Ελληνικά", "ქართული",
    # whitespace
    "  leading and trailing  ", "tab\tseparated", "new\nline", "crlf\r\nline",
    "nbsp\u00a0here", "thin\u2009space", "ideographic\u3000space", "zero\u200bwidth",
    "line\u2028separator", "multiple     spaces", "\t\n mixed \r\n\t ", "form\x0cfeed",
    "unit\x1fseparator",
    # control characters
    "bell\x07char", "null\x00byte", "esc \x1b[31mred\x1b[0m", "bom\ufeffhere",
    "c1 \x93quoted\x94", "next\x85line", "del\x7fete", "\u206aarabic control",
    # HTML entities
    "&amp;", "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp;amp;",
    "&#39;s", "it&#x27;s", "caf&eacute;", "P&EACUTE;REZ", "a&nbsp;b", "&copy; 2024",
    "&notanentity;", "&amp", "&notit;", "<b>&amp;amp;amp;</b>", "&#0;", "&#128;",
    "&#x1F600;", "&#99999999;", "&SZLIG;", "&Hat;", "&#65", "R&D", "fish &chips",
    # empty and whitespace only
    "", "   ", " \t\n\u00a0 ",
    # literal special tokens
    "<|startoftext|>hello<|endoftext|>", "a <|endoftext|> b",
    # mixed case and long words
    "Hello World", "UPPER lower MiXeD", "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    # over-long text
    "a photo of " * 30,
    "The quick brown fox jumps over the lazy dog. " * 10,
    " ".join(str(i) for i in range(100)),
    " ".join(["word"] * 75),   # exactly 77 with SOT/EOT
    " ".join(["word"] * 76),   # one too many
]



def huggingface_layout(gz_path):
    """vocab.json + merges.txt of the open_clip vocabulary, laid out as beside a Hugging
    Face CLIP checkpoint: byte characters, the same with </w>, one token per merge, then
    start and end of text. Returns the temporary folder."""
    import tempfile
    from open_clip.tokenizer import bytes_to_unicode
    with gzip.open(gz_path, "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1 : 49152 - 256 - 2 + 1]
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder = tempfile.mkdtemp(prefix="clip-vocab-hf-")
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder

def open_clip_ids(tok, text):
    ids = [tok.sot_token_id] + tok.encode(text) + [tok.eot_token_id]
    return ids


def truncate(ids, eot):
    # open_clip SimpleTokenizer.__call__: keep the first 77, EOT at the last place.
    if len(ids) <= CONTEXT_LENGTH:
        return ids, False
    ids = ids[:CONTEXT_LENGTH]
    ids[-1] = eot
    return ids, True


def main():
    oc = SimpleTokenizer(CLIP_VOCAB)
    hf = CLIPTokenizer.from_pretrained(huggingface_layout(CLIP_VOCAB))
    hf_vocab = hf.get_vocab()
    sot = hf_vocab["<|startoftext|>"]
    eot = hf_vocab["<|endoftext|>"]
    assert (sot, eot) == (oc.sot_token_id, oc.eot_token_id)

    names = list(zero_shot_metadata.IMAGENET_CLASSNAMES)
    texts = []
    for name in names:
        texts.append(("imagenet", name))
    for name in names:
        texts.append(("imagenet_prompt", f"a photo of a {name}."))
    for text in EDGE_CASES:
        texts.append(("edge", text))

    cases = []
    disagreements = []
    for group, text in texts:
        # The Swift tokenizer leaves out ftfy's mojibake repair; no case may need it.
        assert ftfy.fix_text(text) == ftfy.fix_text(text, fix_encoding=False), (
            f"case {text!r} depends on ftfy's mojibake repair"
        )
        oc_full = open_clip_ids(oc, text)
        hf_full = hf(text, add_special_tokens=True)["input_ids"]
        special = any(s in text for s in SPECIAL_LITERALS)
        reference = "transformers" if special else "open_clip"
        full = hf_full if special else oc_full
        ids, truncated = truncate(list(full), eot)
        # open_clip names the special tokens differently; the text between them is the same.
        decoded = oc.decode(ids[1:-1]).replace("<start_of_text>", "<|startoftext|>").replace(
            "<end_of_text>", "<|endoftext|>")
        case = {
            "group": group,
            "text": text,
            "ids": ids,
            "truncated": truncated,
            "length": len(full),
            "tokens": hf.convert_ids_to_tokens(ids),
            "decoded": decoded,
            "reference": reference,
        }
        if oc_full != hf_full:
            if special:
                case["open_clip_ids"] = truncate(list(oc_full), eot)[0]
                case["note"] = ("open_clip 3 does not know the <|...|> special token names and "
                                "splits them into symbols; OpenAI CLIP and transformers match them")
            else:
                case["transformers_ids"] = truncate(list(hf_full), eot)[0]
                case["note"] = ("transformers' tokenizers-backed CLIPTokenizer has no ftfy and no "
                                "HTML unescape; open_clip is followed")
            disagreements.append(text)
        cases.append(case)

    header = {
        "description": "CLIP BPE tokenizer answers: open_clip SimpleTokenizer and transformers CLIPTokenizer",
        "python": sys.version.split()[0],
        "open_clip": open_clip.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "ftfy": ftfy.__version__,
        "regex": regex.__version__,
        "context_length": CONTEXT_LENGTH,
        "start_of_text": sot,
        "end_of_text": eot,
        "rule": ("ids follow open_clip except where reference is 'transformers' (literal special "
                 "tokens); transformers_ids / open_clip_ids record the other answer where the two differ"),
        "disagreements": len(disagreements),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write('{"header": ' + json.dumps(header, ensure_ascii=False) + ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    write_tiny()
    print(f"wrote {len(cases)} cases to {OUT} ({os.path.getsize(OUT)} bytes)")
    print(f"{len(disagreements)} disagreements:")
    for text in disagreements:
        print("  ", repr(text))


def write_tiny():
    with gzip.open(CLIP_VOCAB, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    text = "\n".join(lines[: 1 + TINY_MERGES]) + "\n"
    # mtime=0 keeps the file byte-identical between runs.
    with open(TINY_VOCAB, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode("utf-8"))
    tok = SimpleTokenizer(TINY_VOCAB)
    answers = {
        "header": {
            "description": f"open_clip SimpleTokenizer on tiny_vocab.txt.gz (first {TINY_MERGES} merges)",
            "open_clip": open_clip.__version__,
            "vocabulary_size": tok.vocab_size,
            "start_of_text": tok.sot_token_id,
            "end_of_text": tok.eot_token_id,
        },
        "cases": [
            {"text": t, "ids": [tok.sot_token_id] + tok.encode(t) + [tok.eot_token_id]} for t in TINY_TEXTS
        ],
    }
    with open(TINY_ANSWERS, "w", encoding="utf-8") as f:
        json.dump(answers, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
