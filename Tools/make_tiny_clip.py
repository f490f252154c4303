"""Build tiny random CLIP checkpoints and reference answers for the Swift CLIP text tower.

Run (from the repository root, with a Python that has torch, transformers,
open_clip_torch, ftfy, regex, safetensors and numpy):

    python Tools/make_tiny_clip.py [--out Tests/Fixtures]

Everything is seeded, so re-running reproduces byte-identical files. The script
checks itself with asserts and prints the figures it checked.

Tiny BPE vocabulary (CLIP's layout, 574 tokens)
    ids 0..255    the 256 byte-to-unicode characters (bytes_to_unicode order),
    ids 256..511  the same characters followed by `</w>`,
    ids 512..571  60 merges learned by plain BPE from the words of a few prompts
                  ("a photo of a dog.", "cat", ...), in rank order,
    id  572       `<|startoftext|>` (open_clip calls it `<start_of_text>`),
    id  573       `<|endoftext|>`   (open_clip: `<end_of_text>`).
    Written as vocab.json + merges.txt (Hugging Face; merges.txt starts with the
    line `#version: 0.2`) and as bpe_simple_vocab_16e6.txt.gz (open_clip: one
    header line, then one merge per line, no trailing newline, gzip with mtime 0).
    transformers' CLIPTokenizer and open_clip's SimpleTokenizer are checked to
    give the same ids for every prompt.

Fixture directories written under --out
    clip-tiny/           transformers CLIPModel, F32, hidden_act quick_gelu:
                         config.json, model.safetensors, vocab.json, merges.txt,
                         reference.safetensors, reference.json
    clip-tiny-f16/       the same weights stored as F16 (same files)
    clip-tiny-bf16/      the same weights stored as BF16 (same files)
    clip-tiny-gelu/      the same weights with hidden_act "gelu" (exact erf GELU), F32
    clip-tiny-openclip/  the clip-tiny weights in OpenAI/open_clip naming:
                         open_clip_model.safetensors, open_clip_config.json,
                         bpe_simple_vocab_16e6.txt.gz, reference.safetensors, reference.json
    Model: text width 32, 4 heads, 2 layers, MLP 128, 77 positions, LayerNorm eps 1e-5;
    vision image 32, patch 8, width 32, 4 heads, 2 layers, MLP 128; projection 24;
    logit_scale = ln(100), stored as a 0-d tensor in both namings. The open_clip file holds
    q, k, v stacked as attn.in_proj_weight [96, 32] (rows q, then k, then v) and
    text_projection / visual.proj as [32, 24] (the transpose of transformers'
    text_projection.weight / visual_projection.weight [24, 32]).
    Weights are N(0, 0.15) for matrices and embeddings,
    LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.05), so that every parameter
    matters and attention is far from uniform. The F16/BF16 references are
    computed from the rounded weights upcast to F32.

reference.safetensors (P = 6 prompts, width = 32, proj = 24; all computed in F32)
    ids                  I32 [P, 77]  token ids as transformers' CLIPTokenizer gives them with
                                      padding="max_length", max_length=77: SOT, the BPE ids,
                                      EOT, then padding with the EOT id (573) up to 77
    ids_open_clip        I32 [P, 77]  the same ids as open_clip's tokenizer pads them (with 0)
    eot                  I32 [P]      position of the (first) EOT token in each row
    trainable            U8  [P, 77]  1 on the rows of the class name (strictly between SOT and
                                      EOT; none for the empty prompt), 0 elsewhere
    text_embeds          F32 [P, proj]        CLIPModel.get_text_features(ids), unnormalised
    inputs_embeds        F32 [P, 77, width]   token-embedding rows of `ids` (before position
                                              embeddings) plus N(0, 0.1) noise on trainable rows
    spliced_text_embeds  F32 [P, proj]        text features of inputs_embeds: + position
                                              embeddings, every encoder layer with the additive
                                              causal mask, final LayerNorm, row `eot`,
                                              text projection (unnormalised)
    loss_weights         F32 [P, proj]        N(0, 1)
    loss                 F32 [1]              sum_p dot(spliced_text_embeds[p] / |spliced_text_embeds[p]|,
                                                        loss_weights[p])
    grad_inputs_embeds   F32 [P, 77, width]   d loss / d inputs_embeds (all rows; rows after EOT
                                              are exactly zero)
    logit_scale          F32 [1]              ln(100)
reference.json holds the prompts' texts, class names, and the torch / transformers /
open_clip versions used.
"""

import argparse
import gzip
import io
import json
import math
import os
from collections import Counter

import numpy as np
import torch
import transformers
import open_clip
import safetensors
from safetensors.torch import save_file, load_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from open_clip.tokenizer import SimpleTokenizer, bytes_to_unicode

CONTEXT = 77
NUM_MERGES = 60
WIDTH = 32
PROJ = 24
LOGIT_SCALE = math.log(100.0)
GZ_HEADER = '"bpe_simple_vocab_16e6.txt#version: 0.2'

# (prompt text, class name whose tokens are the trainable rows or None)
PROMPTS = [
    ("a photo of a dog.", "dog"),
    ("a photo of a cat.", "cat"),
    ("dog", "dog"),
    ("", None),
    ("a blurry photo of a golden retriever, sitting on the green grass in the park.", "golden retriever"),
    ("a photo of a hummingbird.", "hummingbird"),
]

# Word counts the merges are learned from: the prompts' words, weighted so that the
# common template words and short class names become single tokens while rarer
# words (retriever, hummingbird) stay split into several tokens.
CORPUS = {
    "a": 40, "photo": 30, "of": 30, "the": 12, "dog": 12, "cat": 12, "on": 6,
    "in": 6, "golden": 4, "grass": 3, "green": 3, "park": 3, "blurry": 3,
    "sitting": 2, "retriever": 1, "hummingbird": 1, "bird": 2, "small": 2,
    "large": 2, "brown": 2, "red": 2, "white": 2, "black": 2, "flower": 2, "tree": 2,
    "picture": 2, "car": 2, "branch": 1, "airplane": 1, "pizza": 1,
}


# ---------------------------------------------------------------------------
# Vocabulary


def learn_merges(corpus, count):
    """Plain BPE training: repeatedly merge the most frequent adjacent pair
    (ties broken by the pair's text) inside words ending with `</w>`."""
    words = {tuple(w[:-1]) + (w[-1] + "</w>",): n for w, n in corpus.items()}
    merges = []
    for _ in range(count):
        pairs = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        assert pairs, "corpus too small for the requested number of merges"
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = {}
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        words = merged
    return merges


def build_vocab():
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    merges = learn_merges(CORPUS, NUM_MERGES)
    tokens += ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(tokens)) == len(tokens), "merges produced a duplicate token"
    vocab = {t: i for i, t in enumerate(tokens)}
    return vocab, merges


def write_vocab_files(directory, vocab, merges):
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def gz_bytes(merges):
    # No trailing newline: open_clip splits on '\n' and keeps every line after the
    # header, so an empty last line would become a bogus vocabulary entry.
    text = "\n".join([GZ_HEADER] + [f"{a} {b}" for a, b in merges])
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(text.encode("utf-8"))
    return buf.getvalue()


def write_gz(directory, data):
    with open(os.path.join(directory, "bpe_simple_vocab_16e6.txt.gz"), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# Models


def hf_config(vocab_size, sot, eot, hidden_act):
    text = dict(
        vocab_size=vocab_size, hidden_size=WIDTH, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=CONTEXT,
        hidden_act=hidden_act, layer_norm_eps=1e-5, projection_dim=PROJ,
        bos_token_id=sot, eos_token_id=eot, pad_token_id=eot,
    )
    vision = dict(
        image_size=32, patch_size=8, num_channels=3, hidden_size=WIDTH,
        intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        hidden_act=hidden_act, layer_norm_eps=1e-5, projection_dim=PROJ,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJ,
                      logit_scale_init_value=LOGIT_SCALE)


def build_hf_model(config):
    """A CLIPModel whose every parameter is drawn from a fixed seed in state-dict order."""
    config._attn_implementation = "eager"
    model = CLIPModel(config)
    gen = torch.Generator().manual_seed(1234)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm = "layer_norm" in name or "layrnorm" in name or "layernorm" in name
            if name == "logit_scale":
                p.fill_(LOGIT_SCALE)
            elif is_norm and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.05 * noise)
            else:
                p.copy_(0.15 * noise)
    model.eval()
    return model


def round_weights(model, dtype, config):
    """The model with its weights rounded to dtype and upcast back to F32."""
    rounded = build_hf_model(config)
    with torch.no_grad():
        for p, q in zip(model.parameters(), rounded.parameters()):
            q.copy_(p.detach().to(dtype).to(torch.float32))
    return rounded


def save_hf(model, directory, dtype, vocab, merges):
    os.makedirs(directory, exist_ok=True)
    m = model.to(dtype) if dtype != torch.float32 else model
    m.save_pretrained(directory)
    if dtype != torch.float32:
        model.to(torch.float32)
    write_vocab_files(directory, vocab, merges)


def open_clip_cfg(vocab_size):
    return {
        "model_cfg": {
            "embed_dim": PROJ,
            "quick_gelu": True,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": WIDTH,
                           "head_width": WIDTH // 4, "mlp_ratio": 4.0, "patch_size": 8},
            "text_cfg": {"context_length": CONTEXT, "vocab_size": vocab_size,
                         "width": WIDTH, "heads": 4, "layers": 2},
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    }


# open_clip name -> transformers name, for tensors copied as they are.
OPEN_CLIP_RENAMES = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
}
# open_clip module -> transformers module, each with a .weight and a .bias.
OPEN_CLIP_MODULES = {
    "ln_final": "text_model.final_layer_norm",
    "visual.ln_pre": "vision_model.pre_layrnorm",
    "visual.ln_post": "vision_model.post_layernorm",
}
OPEN_CLIP_BLOCK_MODULES = {
    "ln_1": "layer_norm1", "attn.out_proj": "self_attn.out_proj", "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
}


def to_open_clip_state(hf):
    """Rename a CLIPModel state dict to OpenAI/open_clip names (q, k, v stacked into in_proj)."""
    sd = {k: v.detach().clone() for k, v in hf.state_dict().items()}
    out = {oc: sd[name] for oc, name in OPEN_CLIP_RENAMES.items()}
    modules = dict(OPEN_CLIP_MODULES)
    for hf_tower, oc_prefix in (("text_model", ""), ("vision_model", "visual.")):
        for i in range(2):
            h, o = f"{hf_tower}.encoder.layers.{i}", f"{oc_prefix}transformer.resblocks.{i}"
            modules.update({f"{o}.{a}": f"{h}.{b}" for a, b in OPEN_CLIP_BLOCK_MODULES.items()})
            for part in ("weight", "bias"):
                out[f"{o}.attn.in_proj_{part}"] = torch.cat(
                    [sd[f"{h}.self_attn.{n}_proj.{part}"] for n in ("q", "k", "v")], 0)
    for oc, name in modules.items():
        out[f"{oc}.weight"] = sd[f"{name}.weight"]
        out[f"{oc}.bias"] = sd[f"{name}.bias"]
    # open_clip computes x @ text_projection, transformers x @ W.T.
    out["text_projection"] = sd["text_projection.weight"].t()
    out["visual.proj"] = sd["visual_projection.weight"].t()
    out["logit_scale"] = sd["logit_scale"].reshape(())
    return {k: v.contiguous() for k, v in out.items()}


# ---------------------------------------------------------------------------
# Reference answers


def causal_mask(n):
    """Additive mask [1, 1, n, n]: 0 on and below the diagonal, the most negative F32 above
    (the form CLIPTextModel builds for eager attention)."""
    m = torch.full((n, n), torch.finfo(torch.float32).min)
    return torch.triu(m, diagonal=1)[None, None]


def spliced_features(model, inputs_embeds, eot, use_mask=True):
    """Text features from token-embedding rows: + positions -> encoder layers (mask passed
    as attention_mask) -> final LayerNorm -> row eot -> text projection."""
    tm = model.text_model
    n = inputs_embeds.shape[1]
    h = inputs_embeds + tm.embeddings.position_embedding.weight[:n][None]
    mask = causal_mask(n) if use_mask else None
    for layer in tm.encoder.layers:
        h = layer(h, attention_mask=mask)
    h = tm.final_layer_norm(h)
    pooled = h[torch.arange(h.shape[0]), eot]
    return model.text_projection(pooled)


def loss_and_grad(model, inputs_embeds, eot, weights):
    x = inputs_embeds.clone().requires_grad_(True)
    feats = spliced_features(model, x, eot)
    loss = (torch.nn.functional.normalize(feats, dim=-1) * weights).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return feats.detach(), loss.detach(), grad


def tokenize(hf_tok, oc_tok, vocab):
    texts = [p for p, _ in PROMPTS]
    ids = hf_tok(texts, padding="max_length", max_length=CONTEXT, truncation=True,
                 return_tensors="pt")["input_ids"].to(torch.int64)
    oc_ids = oc_tok(texts).to(torch.int64)
    eot_id = vocab["<|endoftext|>"]
    eot = (ids == eot_id).int().argmax(dim=-1)
    for p in range(len(texts)):
        e = int(eot[p])
        assert torch.equal(ids[p, : e + 1], oc_ids[p, : e + 1]), f"tokenizers disagree on {texts[p]!r}"
        assert (oc_ids[p, e + 1:] == 0).all() and (ids[p, e + 1:] == eot_id).all()
        assert int(oc_ids[p].argmax()) == e
    return ids, oc_ids, eot


def trainable_rows(hf_tok, ids, eot):
    mask = torch.zeros(ids.shape, dtype=torch.uint8)
    for p, (text, name) in enumerate(PROMPTS):
        if name is None:
            continue
        name_ids = hf_tok(name, add_special_tokens=False)["input_ids"]
        row = ids[p, : int(eot[p]) + 1].tolist()
        starts = [s for s in range(1, len(row) - len(name_ids))
                  if row[s: s + len(name_ids)] == name_ids]
        assert len(starts) == 1, f"class name {name!r} not found once in {text!r}"
        mask[p, starts[0]: starts[0] + len(name_ids)] = 1
    return mask


def make_reference(model, ids, oc_ids, eot, trainable, label):
    """Reference tensors for one F32 model, with the asserted checks printed."""
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():
        text_embeds = model.get_text_features(input_ids=ids).pooler_output
        token_rows = model.text_model.embeddings.token_embedding.weight[ids]
        manual = spliced_features(model, token_rows, eot)
        diff_a = (manual - text_embeds).abs().max().item()
        assert diff_a < 1e-6, diff_a
        noise = 0.1 * torch.randn(token_rows.shape, generator=gen)
        inputs_embeds = token_rows + noise * trainable[..., None].float()
        nomask = spliced_features(model, inputs_embeds, eot, use_mask=False)
    weights = torch.randn((ids.shape[0], PROJ), generator=gen)
    feats, loss, grad = loss_and_grad(model, inputs_embeds, eot, weights)
    diff_mask = (nomask - feats).abs().max().item()
    assert diff_mask > 1e-2, diff_mask

    # Causality: replace every row after EOT with other values.
    after = torch.arange(CONTEXT)[None] > eot[:, None]
    other = torch.where(after[..., None], torch.randn(inputs_embeds.shape, generator=gen),
                        inputs_embeds)
    feats2, _, grad2 = loss_and_grad(model, other, eot, weights)
    upto = ~after
    diff_feat_b = (feats2 - feats).abs().max().item()
    diff_grad_b = (grad2 - grad)[upto].abs().max().item()
    grad_after = max(grad[after].abs().max().item(), grad2[after].abs().max().item())
    assert diff_feat_b <= 1e-6 and diff_grad_b <= 1e-6, (diff_feat_b, diff_grad_b)
    assert grad_after == 0.0, grad_after
    grad_trainable = grad[trainable.bool()].abs().max().item()
    assert grad_trainable > 0

    print(f"[{label}] (a) manual forward vs get_text_features: max|diff| = {diff_a:.3e}")
    print(f"[{label}] (b) rows after EOT replaced: features max|diff| = {diff_feat_b:.3e}, "
          f"gradient rows <= EOT max|diff| = {diff_grad_b:.3e}, "
          f"gradient rows after EOT max|value| = {grad_after:.3e}")
    print(f"[{label}] (c) without the causal mask features change by max|diff| = {diff_mask:.3e}")
    print(f"[{label}] loss = {loss.item():.6f}, max|grad| on trainable rows = {grad_trainable:.3e}")

    return {
        "ids": ids.to(torch.int32).contiguous(),
        "ids_open_clip": oc_ids.to(torch.int32).contiguous(),
        "eot": eot.to(torch.int32).contiguous(),
        "trainable": trainable.contiguous(),
        "text_embeds": text_embeds.float().contiguous(),
        "inputs_embeds": inputs_embeds.float().contiguous(),
        "spliced_text_embeds": feats.float().contiguous(),
        "loss_weights": weights.float().contiguous(),
        "loss": loss.reshape(1).float().contiguous(),
        "grad_inputs_embeds": grad.float().contiguous(),
        "logit_scale": model.logit_scale.detach().reshape(1).float().contiguous(),
    }


def check_reload(directory, ids, expected, label):
    """The saved checkpoint loads back (upcast to F32) with every tensor and gives the reference."""
    model, info = CLIPModel.from_pretrained(directory, dtype=torch.float32, output_loading_info=True,
                                            attn_implementation="eager")
    assert not any(info.values()), info
    with torch.no_grad():
        d = (model.get_text_features(input_ids=ids).pooler_output - expected).abs().max().item()
    assert d < 1e-6, d
    print(f"[{label}] reloaded with from_pretrained: text_embeds max|diff| = {d:.3e}")


def write_reference(directory, tensors, meta):
    save_file(tensors, os.path.join(directory, "reference.safetensors"))
    with open(os.path.join(directory, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    args = parser.parse_args()
    out = os.path.normpath(args.out)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.disable_progress_bar()

    vocab, merges = build_vocab()
    vocab_size = len(vocab)
    sot_id, eot_id = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    print(f"vocabulary: {vocab_size} tokens, {len(merges)} merges, SOT {sot_id}, EOT {eot_id}")

    dirs = {k: os.path.join(out, k) for k in
            ("clip-tiny", "clip-tiny-f16", "clip-tiny-bf16", "clip-tiny-gelu", "clip-tiny-openclip")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    # Tokenizers: HF from vocab.json + merges.txt, open_clip from the gz.
    write_vocab_files(dirs["clip-tiny"], vocab, merges)
    gz = gz_bytes(merges)
    write_gz(dirs["clip-tiny-openclip"], gz)
    hf_tok = CLIPTokenizer.from_pretrained(dirs["clip-tiny"])
    oc_tok = SimpleTokenizer(os.path.join(dirs["clip-tiny-openclip"], "bpe_simple_vocab_16e6.txt.gz"),
                             context_length=CONTEXT)
    assert oc_tok.vocab_size == vocab_size and oc_tok.eot_token_id == eot_id
    ids, oc_ids, eot = tokenize(hf_tok, oc_tok, vocab)
    trainable = trainable_rows(hf_tok, ids, eot)
    for p, (text, _) in enumerate(PROMPTS):
        row = ids[p, : int(eot[p]) + 1].tolist()
        print(f"  {text!r}: {row} trainable {trainable[p].nonzero().flatten().tolist()}")

    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "open_clip": open_clip.__version__, "safetensors": safetensors.__version__,
                     "numpy": np.__version__},
        "prompts": [p for p, _ in PROMPTS],
        "class_names": [c for _, c in PROMPTS],
        "vocab_size": vocab_size,
        "sot_id": sot_id,
        "eot_id": eot_id,
        "padding": "ids: padded with the EOT id after EOT (transformers CLIPTokenizer, "
                   "padding='max_length'); ids_open_clip: padded with 0",
    }

    quick = build_hf_model(hf_config(vocab_size, sot_id, eot_id, "quick_gelu"))

    # clip-tiny (F32)
    save_hf(quick, dirs["clip-tiny"], torch.float32, vocab, merges)
    ref = make_reference(quick, ids, oc_ids, eot, trainable, "clip-tiny")
    write_reference(dirs["clip-tiny"], ref, dict(meta, dtype="F32", hidden_act="quick_gelu"))
    check_reload(dirs["clip-tiny"], ids, ref["text_embeds"], "clip-tiny")

    # F16 / BF16: stored rounded, references from the rounded weights in F32.
    for key, dtype, name in (("clip-tiny-f16", torch.float16, "F16"),
                             ("clip-tiny-bf16", torch.bfloat16, "BF16")):
        rounded = round_weights(quick, dtype, quick.config)
        save_hf(rounded, dirs[key], dtype, vocab, merges)
        stored = load_file(os.path.join(dirs[key], "model.safetensors"))
        assert all(t.dtype == dtype for t in stored.values())
        r = make_reference(rounded, ids, oc_ids, eot, trainable, key)
        d = (r["text_embeds"] - ref["text_embeds"]).abs().max().item()
        print(f"[{key}] text_embeds differ from F32 by max|diff| = {d:.3e}")
        write_reference(dirs[key], r, dict(meta, dtype=name, hidden_act="quick_gelu"))
        check_reload(dirs[key], ids, r["text_embeds"], key)

    # clip-tiny-gelu: same weights, exact GELU.
    gelu = build_hf_model(hf_config(vocab_size, sot_id, eot_id, "gelu"))
    for (n1, p1), (n2, p2) in zip(quick.named_parameters(), gelu.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    save_hf(gelu, dirs["clip-tiny-gelu"], torch.float32, vocab, merges)
    rg = make_reference(gelu, ids, oc_ids, eot, trainable, "clip-tiny-gelu")
    d = (rg["text_embeds"] - ref["text_embeds"]).abs().max().item()
    assert d > 1e-3, d
    print(f"[clip-tiny-gelu] text_embeds differ from quick_gelu by max|diff| = {d:.3e}")
    write_reference(dirs["clip-tiny-gelu"], rg, dict(meta, dtype="F32", hidden_act="gelu"))
    check_reload(dirs["clip-tiny-gelu"], ids, rg["text_embeds"], "clip-tiny-gelu")

    # clip-tiny-openclip: the clip-tiny weights in open_clip naming.
    cfg = open_clip_cfg(vocab_size)
    oc_state = to_open_clip_state(quick)
    save_file(oc_state, os.path.join(dirs["clip-tiny-openclip"], "open_clip_model.safetensors"))
    with open(os.path.join(dirs["clip-tiny-openclip"], "open_clip_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    oc_model = open_clip.model.CLIP(**cfg["model_cfg"])
    oc_model.load_state_dict(
        load_file(os.path.join(dirs["clip-tiny-openclip"], "open_clip_model.safetensors")), strict=True)
    oc_model.eval()
    with torch.no_grad():
        oc_text = oc_model.encode_text(oc_ids)
        oc_text_hfpad = oc_model.encode_text(ids)
        pixels = torch.randn((3, 3, 32, 32), generator=torch.Generator().manual_seed(7))
        d_img = (oc_model.encode_image(pixels) - quick.get_image_features(pixel_values=pixels).pooler_output
                 ).abs().max().item()
    d_text = (oc_text - ref["text_embeds"]).abs().max().item()
    d_text2 = (oc_text_hfpad - ref["text_embeds"]).abs().max().item()
    assert d_text < 1e-5 and d_text2 < 1e-5 and d_img < 1e-5, (d_text, d_text2, d_img)
    print(f"[clip-tiny-openclip] open_clip encode_text vs HF get_text_features: max|diff| = {d_text:.3e} "
          f"(open_clip padding), {d_text2:.3e} (HF padding); encode_image vs get_image_features: {d_img:.3e}")
    write_reference(dirs["clip-tiny-openclip"], ref,
                    dict(meta, dtype="F32", hidden_act="quick_gelu",
                         note="tensors identical to clip-tiny/reference.safetensors"))

    for d in dirs.values():
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{d}: {sorted(os.listdir(d))} {size} bytes")


if __name__ == "__main__":
    main()
