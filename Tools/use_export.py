"""Uses a snapshot exported by `lamm-store export --snapshot N --out F.safetensors` in PyTorch:
rebuilds its text features with transformers' CLIP and, given a stage file, classifies its rows.

Run (a Python with torch, transformers, safetensors, numpy and Pillow; the checkpoint directory
is the store's model, in the Hugging Face layout):

    python Tools/use_export.py EXPORT.safetensors --model CHECKPOINT_DIR \
        [--csv STAGE.csv [--features STAGE.npy] [--split test]] [--top 5] [--float64]

The export (Sources/Reports/SnapshotExport.swift, Sources/Continual/SnapshotClassifier.swift),
F32 unless said:
    label_embedding.<class>  [tokens, W]  the class's label vectors
    prompt_ids.<class>       I32 [L]      its prompt from SOT to EOT, 0 where a vector goes
    label_positions.<class>  I32 [tokens] where its label vectors go in that prompt
    context                  [n, W]       CoOp's / MaPLe's context, at metadata context_positions (1..n)
    prompt.deep_text.l       [n, W]       MaPLe: replaces the context rows of every prompt entering
                                          text block l = 1 ... J-1
    prompt.vision_proj.weight/.bias       MaPLe: the image tower's shallow prompts vision_proj(context)
    prompt.deep_proj.l.weight/.bias       MaPLe: its prompts entering vision block l, deep_proj.l(deep_text.l)
    text_features            [C, D]       L2-normalised, in class order (metadata `classes`)
    logit_scale              [1]          tau: logits = tau * cos(image feature, text feature)

1. Text features: each class's prompt rows are CLIP's word embeddings of prompt_ids with the label
   vectors at label_positions and the context at context_positions; + positional embedding,
   CLIP's causal pre-LN blocks (attention written out with the additive causal mask, since
   transformers ignores a causal_attention_mask keyword on encoder layers), MaPLe's deep text
   prompts replacing the context rows entering blocks 1 ... J-1, final LayerNorm, the EOT row
   (the last row of prompt_ids) @ text_projection, L2-normalised. Asserted to match the export's
   text_features (cos >= 0.9999 for every class; the worst is printed).
   The splice itself is checked against transformers: (a) with CLIP's own word embeddings in
   every vector row and no deep prompts (the prompt `a photo of a <class>.` from the tokenizer
   filling prompt_ids' zero rows), the feature equals get_text_features; (b) rows after EOT up
   to 77 (EOT embeddings, then noise) leave the features unchanged (causality); (c) the image
   tower written out without prompts equals get_image_features. For CoOp and MaPLe, whose label
   vectors are not trained, they are asserted to be CLIP's word embeddings of the class name.
2. With --csv (lamm-store's stage file `class,split[,image]`): the rows of --split are classified
   among the CSV's own classes (the stage's label space, in the order they first appear, as
   `lamm-store eval` does under its default task protocol); accuracy (%) with 2 decimals and the
   top-k of a few rows are printed. Image features: --features (an .npy [rows, D], one row per CSV
   data row) or the CSV's image column (paths relative to the CSV): PIL -> RGB -> shorter side
   resized to the model's image size (bicubic, the longer int(S * long / short)) -> centre crop
   ((size - S) // 2 offsets, as CLIPImageProcessor) -> x / 255 -> CLIP mean/std -> plain CLIP
   get_image_features, or for MaPLe and MaPLe+LAMM the prompted image tower (shallow prompts
   appended after the class and patch tokens, after the positional embedding and before
   pre-LN; the last n tokens replaced entering vision blocks 1 ... J-1). Precomputed features
   are refused for a MaPLe export: they cannot show its prompted image tower.

Computation in float32 (as lamm-store) unless --float64. Errors (missing file, a CSV class not in
the export, wrong feature width, ...) print a message and exit with status 1; failed checks
raise AssertionError.
"""

import argparse
import csv
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

CONTEXT = 77
TEMPLATE = "a photo of a {}."
MAPLE_METHODS = ("maple", "maple+lamm")
FIXED_LABEL_METHODS = ("coop", "maple")  # label vectors are CLIP's word embeddings
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MIN_COSINE = 0.9999


class UsageError(Exception):
    """A problem with the user's files or arguments: printed, exit status 1."""


# ---------------------------------------------------------------------------
# The export


class Export:
    def __init__(self, path):
        from safetensors import SafetensorError, safe_open

        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file. Write one with `lamm-store export --snapshot N --out {path}`.")
        try:
            with safe_open(path, framework="pt") as f:
                self.metadata = f.metadata() or {}
                self.tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as error:
            raise UsageError(f"{path}: not a readable .safetensors file ({error}).")
        m = self.metadata
        missing = [k for k in ("snapshot", "method", "classes", "context_positions") if k not in m]
        missing += [k for k in ("text_features", "logit_scale") if k not in self.tensors]
        if missing:
            raise UsageError(f"{path}: not a lamm-store snapshot export (no {', '.join(missing)}).")
        self.path = path
        self.snapshot, self.method = m["snapshot"], m["method"]
        self.dataset, self.stage = m.get("dataset", "?"), m.get("stage", "?")
        self.classes = json.loads(m["classes"])
        self.context_positions = json.loads(m["context_positions"])
        self.text_features = self.tensors["text_features"]
        self.tau = float(self.tensors["logit_scale"].reshape(-1)[0])
        self.context = self.tensors.get("context")
        n = len(self.context_positions)
        assert (self.context is None) == (n == 0), "context tensor and context_positions disagree"
        assert self.context is None or self.context.shape[0] == n, (self.context.shape, n)
        assert self.text_features.shape[0] == len(self.classes), (self.text_features.shape, len(self.classes))
        for c in self.classes:
            for k in ("label_embedding", "prompt_ids", "label_positions"):
                assert f"{k}.{c}" in self.tensors, f"{path}: no tensor {k}.{c}"
        self.is_maple = self.method in MAPLE_METHODS
        self.deep_text, self.vision_proj, self.deep_proj = [], None, []
        if self.is_maple:
            names = json.loads(m.get("prompt_tensors", "[]"))
            t = {name: self.tensors[f"prompt.{name}"] for name in names}
            while f"deep_text.{len(self.deep_text) + 1}" in t:
                l = len(self.deep_text) + 1
                self.deep_text.append(t[f"deep_text.{l}"])
                self.deep_proj.append((t[f"deep_proj.{l}.weight"], t[f"deep_proj.{l}.bias"]))
            self.vision_proj = (t["vision_proj.weight"], t["vision_proj.bias"])
            expected = {f"deep_text.{l}" for l in range(1, len(self.deep_text) + 1)}
            expected |= {f"deep_proj.{l}.{p}" for l in range(1, len(self.deep_text) + 1) for p in ("weight", "bias")}
            expected |= {"vision_proj.weight", "vision_proj.bias"}
            assert set(names) == expected, (sorted(names), sorted(expected))
            assert self.context is not None, "a MaPLe export needs its context"
            assert self.context_positions == list(range(1, n + 1)), self.context_positions

    def prompt(self, c):
        ids = self.tensors[f"prompt_ids.{c}"].long()
        positions = self.tensors[f"label_positions.{c}"].long()
        vectors = self.tensors[f"label_embedding.{c}"]
        assert vectors.shape[0] == positions.numel(), (c, vectors.shape, positions.shape)
        zero_rows = set((ids == 0).nonzero().reshape(-1).tolist())
        vector_rows = set(positions.tolist()) | set(self.context_positions)
        # A token id 0 is a real word; every vector row must be 0 and the first/last SOT/EOT.
        assert vector_rows <= zero_rows and len(vector_rows) == len(positions) + len(self.context_positions), c
        assert 0 not in vector_rows and ids.numel() - 1 not in vector_rows, c
        return ids, positions, vectors


# ---------------------------------------------------------------------------
# Towers


def causal_mask(n, dtype):
    """Additive mask [n, n]: 0 on and below the diagonal, the dtype's most negative value above."""
    return torch.triu(torch.full((n, n), torch.finfo(dtype).min, dtype=dtype), diagonal=1)


def attention(attn, x, mask):
    """CLIPAttention from its q/k/v/out projections, the softmax taken in x's dtype."""
    b, n, w = x.shape
    h = attn.num_heads
    d = w // h

    def heads(t):
        return t.view(b, n, h, d).transpose(1, 2)

    q, k, v = heads(attn.q_proj(x)), heads(attn.k_proj(x)), heads(attn.v_proj(x))
    scores = (q @ k.transpose(-1, -2)) * attn.scale + mask
    return attn.out_proj((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, w))


def features_of(out):
    """get_text_features / get_image_features return a tensor, or (recent transformers) an output."""
    return out if torch.is_tensor(out) else out.pooler_output


class Towers:
    def __init__(self, model_dir, dtype):
        from transformers import CLIPModel, CLIPTokenizer
        import transformers

        if not os.path.isdir(model_dir) or not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise UsageError(f"{model_dir}: not a checkpoint directory (no config.json). Pass the store's model with --model.")
        transformers.utils.logging.disable_progress_bar()
        try:
            model, info = CLIPModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager",
                                                    output_loading_info=True)
            self.tokenizer = CLIPTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise UsageError(f"{model_dir}: cannot load a CLIPModel and its tokenizer ({error}).")
        assert not info["missing_keys"] and not info["mismatched_keys"], info
        self.model = model.to(dtype).eval().requires_grad_(False)
        self.dtype = dtype
        self.embedding = self.model.text_model.embeddings.token_embedding.weight
        self.width = self.embedding.shape[1]
        vc = self.model.config.vision_config
        self.image_size = vc.image_size
        self.mean, self.std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        pre = os.path.join(model_dir, "preprocessor_config.json")
        if os.path.isfile(pre):
            with open(pre) as f:
                cfg = json.load(f)
            self.mean, self.std = tuple(cfg.get("image_mean", self.mean)), tuple(cfg.get("image_std", self.std))

    # Text

    def text(self, rows, deep=(), context_positions=(), eot=-1):
        """Features [B, D] (not normalised) of prompt rows [B, L, W] read at row `eot` (the last, the
        EOT row of prompt_ids, unless said); deep[l-1] replaces the rows at context_positions
        entering block l."""
        tm = self.model.text_model
        n = rows.shape[1]
        h = rows + tm.embeddings.position_embedding.weight[:n][None]
        mask = causal_mask(n, h.dtype)
        positions = torch.tensor(list(context_positions), dtype=torch.long)
        assert len(deep) <= len(tm.encoder.layers) - 1, (len(deep), len(tm.encoder.layers))
        for l, layer in enumerate(tm.encoder.layers):
            if 1 <= l <= len(deep):
                h = h.clone()
                h[:, positions] = deep[l - 1].to(h.dtype)[None]
            h = h + attention(layer.self_attn, layer.layer_norm1(h), mask)
            h = h + layer.mlp(layer.layer_norm2(h))
        h = tm.final_layer_norm(h)
        return self.model.text_projection(h[:, eot])

    def spliced_rows(self, ids, splices):
        """Word embeddings of ids [L] with rows replaced: splices is a list of (positions, vectors)."""
        rows = self.embedding[ids].clone()
        for positions, vectors in splices:
            rows[positions] = vectors.to(rows.dtype)
        return rows

    # Images

    def pixels(self, path):
        """CLIPImageProcessor's pipeline (resize shorter side, bicubic; centre crop; rescale;
        normalise) on one image file: [3, S, S]."""
        from PIL import Image, UnidentifiedImageError

        s = self.image_size
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
        except FileNotFoundError:
            raise UsageError(f"{path}: no such image file (the CSV's image paths are relative to the CSV).")
        except (UnidentifiedImageError, OSError) as error:
            raise UsageError(f"{path}: cannot read the image ({error}).")
        w, h = im.size
        short, long = min(w, h), max(w, h)
        new_long = int(s * long / short)
        size = (s, new_long) if w <= h else (new_long, s)
        im = im.resize(size, resample=Image.BICUBIC)
        left, top = (im.size[0] - s) // 2, (im.size[1] - s) // 2
        x = np.asarray(im.crop((left, top, left + s, top + s)), dtype=np.float64) / 255.0
        x = x.astype(np.float32).transpose(2, 0, 1)
        x = (x - np.float32(self.mean)[:, None, None]) / np.float32(self.std)[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(x))

    def image(self, pixels, shallow=None, deep=()):
        """The image tower written out [B, D]: with MaPLe's prompts, shallow [n, Wv] appended after
        the class and patch tokens (after the positional embedding, before pre-LN) and deep[l-1]
        replacing the last n tokens entering block l."""
        vm = self.model.vision_model
        e = vm.embeddings
        b = pixels.shape[0]
        x = e.patch_embedding(pixels.to(self.dtype)).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(b, 1, -1), x], dim=1) + e.position_embedding.weight[None]
        if shallow is not None:
            x = torch.cat([x, shallow[None].expand(b, -1, -1)], dim=1)
        x = vm.pre_layrnorm(x)
        assert len(deep) <= len(vm.encoder.layers) - 1, (len(deep), len(vm.encoder.layers))
        for l, layer in enumerate(vm.encoder.layers):
            if shallow is not None and 1 <= l <= len(deep):
                n = deep[l - 1].shape[0]
                x = torch.cat([x[:, :-n], deep[l - 1][None].expand(b, -1, -1)], dim=1)
            x = x + attention(layer.self_attn, layer.layer_norm1(x), 0.0)
            x = x + layer.mlp(layer.layer_norm2(x))
        return self.model.visual_projection(vm.post_layernorm(x[:, 0]))

    def library_image(self, pixels):
        return features_of(self.model.get_image_features(pixel_values=pixels.to(self.dtype)))

    def library_text(self, ids):
        return features_of(self.model.get_text_features(input_ids=ids))


# ---------------------------------------------------------------------------
# Text features


def rebuild_text_features(export, towers):
    """Every class's text feature through the spliced text tower, checked against the export."""
    assert export.text_features.shape[1] == towers.model.config.projection_dim, "the export is not of this model"
    for c in export.classes:
        assert export.tensors[f"label_embedding.{c}"].shape[1] == towers.width, (c, towers.width)
    dt = towers.dtype
    deep = [d.to(dt) for d in export.deep_text]
    features = []
    for c in export.classes:
        ids, positions, vectors = export.prompt(c)
        splices = [(positions, vectors)]
        if export.context is not None:
            splices.append((torch.tensor(export.context_positions), export.context))
        rows = towers.spliced_rows(ids, splices)
        features.append(towers.text(rows[None], deep, export.context_positions)[0])
    features = F.normalize(torch.stack(features), dim=-1)
    cos = (features.double() * export.text_features.double()).sum(-1)
    worst = int(cos.argmin())
    print(f"text features: {len(export.classes)} classes rebuilt by splicing into CLIP's text tower; "
          f"worst cosine with the export's {cos[worst].item():.8f} ({export.classes[worst]!r}), "
          f"max |diff| {(features.double() - export.text_features.double()).abs().max().item():.2e}")
    bad = [(export.classes[i], round(cos[i].item(), 6)) for i in range(len(cos)) if cos[i] < MIN_COSINE]
    assert not bad, f"text features differ from the export's (cos < {MIN_COSINE}): {bad}"
    return features, cos[worst].item()


def check_splice(export, towers):
    """(a) CLIP's own prompt through the splice equals get_text_features; (b) rows after EOT leave
    the features unchanged; (c) the written-out image tower equals get_image_features; and the
    label vectors of methods that do not train them are CLIP's word embeddings."""
    tok = towers.tokenizer
    dt = towers.dtype
    # transformers' eager attention takes its softmax in float32 even for a float64 model, so the
    # comparisons with its functions are at float32's precision; (b) compares this code with itself.
    tol_library, tol_self = 1e-4, (1e-4 if dt == torch.float32 else 1e-10)
    worst_a, worst_b, fixed, lengths_differ = 0.0, 0.0, 0, 0
    gen = torch.Generator().manual_seed(2030)
    deep = [d.to(dt) for d in export.deep_text]
    for c in export.classes:
        ids, positions, vectors = export.prompt(c)
        clip_ids = torch.tensor(tok(TEMPLATE.format(c))["input_ids"])
        label_ids = torch.tensor(tok.encode(c, add_special_tokens=False))
        if clip_ids.numel() == ids.numel():
            # CLIP's prompt is prompt_ids with its zero rows filled from the tokenizer.
            kept = ids != 0
            assert torch.equal(clip_ids[kept], ids[kept]), (c, clip_ids.tolist(), ids.tolist())
            assert torch.equal(clip_ids[positions], label_ids), (c, clip_ids.tolist(), positions.tolist())
            words = torch.where(kept, ids, clip_ids)
        else:
            lengths_differ += 1  # a context longer than `a photo of a`: CLIP's prompt is the tokenizer's
            words = clip_ids
        if export.method in FIXED_LABEL_METHODS:
            assert torch.equal(vectors, towers.embedding[label_ids].float()), f"{c}: label vectors are not CLIP's"
            fixed += 1
        # (a) every vector row CLIP's word embedding, spliced in; no deep prompts.
        if words is clip_ids:
            start = 1 + len(tok.encode(TEMPLATE.split("{}")[0].strip(), add_special_tokens=False))
            splices = [(torch.arange(start, start + label_ids.numel()), towers.embedding[label_ids])]
        else:
            splices = [(positions, towers.embedding[words[positions]])]
            if export.context is not None:
                cp = torch.tensor(export.context_positions)
                splices.append((cp, towers.embedding[words[cp]]))
        mine = towers.text(towers.spliced_rows(words, splices)[None])[0]
        padded = torch.full((1, CONTEXT), tok.eos_token_id, dtype=torch.long)
        padded[0, : words.numel()] = words
        for ref in (towers.library_text(words[None])[0], towers.library_text(padded)[0]):
            worst_a = max(worst_a, ((mine - ref).abs().max() / ref.abs().max()).item())
        # (b) the export's own splice (context, label vectors, deep prompts), padded to 77.
        splices = [(positions, vectors)]
        if export.context is not None:
            splices.append((torch.tensor(export.context_positions), export.context))
        rows = towers.spliced_rows(ids, splices)
        base = towers.text(rows[None], deep, export.context_positions)[0]
        eot_rows = towers.embedding[torch.full((CONTEXT - ids.numel(),), tok.eos_token_id)]
        for tail in (eot_rows, torch.randn(eot_rows.shape, generator=gen).to(dt)):
            long = torch.cat([rows, tail])[None]
            assert long.shape[1] == CONTEXT
            at_eot = towers.text(long, deep, export.context_positions, eot=ids.numel() - 1)[0]
            worst_b = max(worst_b, ((at_eot - base).abs().max() / base.abs().max()).item())
    assert worst_a < tol_library, f"the splice of CLIP's own prompt differs from get_text_features: {worst_a:.3e}"
    assert worst_b < tol_self, f"rows after EOT change the features: {worst_b:.3e}"
    print(f"splice check (a): CLIP's prompt `a photo of a <class>.` spliced as word-embedding rows vs get_text_features "
          f"(unpadded and EOT-padded to {CONTEXT}): max rel diff {worst_a:.2e}"
          + (f" ({lengths_differ} prompts longer than CLIP's: built from the tokenizer)" if lengths_differ else ""))
    print(f"splice check (b): rows after EOT up to {CONTEXT} (EOT embeddings, then noise) with the export's vectors"
          f"{' and deep prompts' if deep else ''}: max rel diff {worst_b:.2e} at the EOT row")
    if fixed:
        print(f"label vectors: {fixed} classes' are exactly CLIP's word embeddings of the class name ({export.method} "
              f"does not train them)")
    s = towers.image_size
    pixels = torch.randn((2, 3, s, s), generator=gen).to(dt)
    mine, ref = towers.image(pixels), towers.library_image(pixels)
    d_img = ((mine - ref).abs().max() / ref.abs().max()).item()
    assert d_img < tol_library, f"the written-out image tower differs from get_image_features: {d_img:.3e}"
    print(f"image tower check (c): written out, no prompts, vs get_image_features: max rel diff {d_img:.2e}")
    if export.is_maple:
        shallow, deep_v = maple_vision_prompts(export, dt)
        moved = ((towers.image(pixels, shallow, deep_v) - ref).abs().max() / ref.abs().max()).item()
        assert moved > 1e-3, moved
        print(f"  MaPLe's prompts ({shallow.shape[0]} tokens, {len(deep_v)} deep) move those features by {moved:.2e} (rel)")


def maple_vision_prompts(export, dtype):
    """The image tower's prompts: vision_proj(context) and deep_proj.l(deep_text.l)."""
    w, b = export.vision_proj
    shallow = F.linear(export.context.to(dtype), w.to(dtype), b.to(dtype))
    deep = [F.linear(t.to(dtype), pw.to(dtype), pb.to(dtype)) for t, (pw, pb) in zip(export.deep_text, export.deep_proj)]
    return shallow, deep


# ---------------------------------------------------------------------------
# Classification


def read_stage(path):
    """lamm-store's stage CSV: (header, rows as (line, class, split, image or None), class order)."""
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file.")
    with open(path, newline="", encoding="utf-8-sig") as f:
        records = [(reader_line, r) for reader_line, r in enumerate_records(csv.reader(f))]
    if not records:
        raise UsageError(f"{path}: the file is empty; it needs a header `class,split[,image]` and data rows.")
    header = records[0][1]
    for name in ("class", "split"):
        if name not in header:
            raise UsageError(f"{path}: the header has no `{name}` column (it has: {', '.join(header)}).")
    ci, si = header.index("class"), header.index("split")
    ii = header.index("image") if "image" in header else None
    rows, classes = [], []
    for line, r in records[1:]:
        if len(r) != len(header):
            raise UsageError(f"{path}, line {line}: expected {len(header)} fields as in the header, found {len(r)}.")
        if r[ci] not in classes:
            classes.append(r[ci])
        rows.append((line, r[ci], r[si], r[ii] if ii is not None else None))
    if not rows:
        raise UsageError(f"{path}: the CSV has a header but no data rows.")
    return rows, classes


def enumerate_records(reader):
    """(1-based line where the record starts, fields), skipping empty lines as lamm-store does."""
    line = 1
    for fields in reader:
        start, line = line, reader.line_num + 1
        if fields:
            yield start, fields


def classify(export, towers, text_features, args):
    rows, classes = read_stage(args.csv)
    unknown = [c for c in classes if c not in export.classes]
    if unknown:
        raise UsageError(f"{args.csv}: class{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} not in "
                         f"snapshot {export.snapshot}'s export (it has {len(export.classes)} classes: "
                         f"{', '.join(export.classes[:8])}{', ...' if len(export.classes) > 8 else ''}).")
    chosen = [i for i, r in enumerate(rows) if r[2] == args.split]
    if not chosen:
        raise UsageError(f"{args.csv}: no rows of split {args.split!r}.")
    d = text_features.shape[1]
    if args.features:
        if export.is_maple:
            raise UsageError(f"snapshot {export.snapshot} is {export.method}: its image features come from MaPLe's prompted "
                             f"image tower, which precomputed CLIP features (--features) cannot show. Leave out "
                             f"--features and give the CSV's images.")
        if not os.path.isfile(args.features):
            raise UsageError(f"{args.features}: no such file.")
        try:
            matrix = np.load(args.features, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UsageError(f"{args.features}: not a readable .npy file ({error}).")
        if matrix.ndim != 2 or matrix.shape[1] != d:
            raise UsageError(f"{args.features}: features of shape {list(matrix.shape)}, but the model's image features are "
                             f"{d} wide ([rows, {d}] expected).")
        if matrix.shape[0] != len(rows):
            raise UsageError(f"{args.features} has {matrix.shape[0]} rows but {args.csv} has {len(rows)} data rows; "
                             f"one row per CSV data row, in the same order.")
        image = torch.from_numpy(matrix[chosen].astype(np.float32)).to(towers.dtype)
        if not torch.isfinite(image).all() or (image.norm(dim=-1) == 0).any():
            raise UsageError(f"{args.features}: a feature row is not finite or all zeros.")
        source = f"features {args.features}"
    else:
        if rows[0][3] is None:
            raise UsageError(f"{args.csv}: no `image` column; pass --features with the rows' image features.")
        folder = os.path.dirname(os.path.abspath(args.csv))
        pixels = torch.stack([towers.pixels(os.path.normpath(os.path.join(folder, rows[i][3]))) for i in chosen])
        if export.is_maple:
            shallow, deep = maple_vision_prompts(export, towers.dtype)
            image = torch.cat([towers.image(p, shallow, deep) for p in pixels.split(64)])
            source = "images through MaPLe's prompted image tower"
        else:
            image = torch.cat([towers.library_image(p) for p in pixels.split(64)])
            source = "images through get_image_features"
    # The stage's label space: its classes in CSV order (as the store numbers them).
    index = [export.classes.index(c) for c in classes]
    text = text_features[index].to(towers.dtype)
    logits = export.tau * F.normalize(image, dim=-1) @ text.T
    labels = torch.tensor([classes.index(rows[i][1]) for i in chosen])
    predicted = logits.argmax(-1)
    correct = int((predicted == labels).sum())
    accuracy = 100.0 * correct / len(chosen)
    top = min(args.top, len(classes))
    probabilities = logits.softmax(-1)
    print(f"{args.csv} ({source}), split {args.split}: {len(chosen)} rows among the stage's {len(classes)} classes, "
          f"tau {export.tau:g}")
    gap = logits.topk(2, dim=-1).values if len(classes) > 1 else None
    if gap is not None:
        g = (gap[:, 0] - gap[:, 1]).min().item()
        print(f"  smallest gap between a row's two best logits: {g:.3e}")
    for j in range(min(3, len(chosen))):
        p, k = probabilities[j].topk(top)
        line, name = rows[chosen[j]][0], rows[chosen[j]][1]
        print(f"  line {line} ({name}): " + ", ".join(f"{classes[int(c)]} {v:.3f}" for v, c in zip(p.tolist(), k.tolist())))
    print(f"accuracy: {accuracy:.2f}% ({correct}/{len(chosen)})")
    return accuracy


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", help="the .safetensors written by `lamm-store export`")
    parser.add_argument("--model", required=True, help="the store's CLIP checkpoint directory (Hugging Face layout)")
    parser.add_argument("--csv", help="a stage file `class,split[,image]` to classify")
    parser.add_argument("--features", help="an .npy of the CSV rows' image features (not for MaPLe)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--top", type=int, default=5, help="classes shown per example row")
    parser.add_argument("--float64", action="store_true", help="compute in float64 instead of float32")
    args = parser.parse_args()
    if args.features and not args.csv:
        parser.error("--features needs --csv")
    if args.top < 1:
        parser.error("--top must be at least 1")
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    try:
        export = Export(args.export)
        towers = Towers(args.model, torch.float64 if args.float64 else torch.float32)
        print(f"snapshot {export.snapshot}: dataset {export.dataset}, method {export.method}, stage {export.stage}, "
              f"{len(export.classes)} classes, context positions {export.context_positions}"
              + (f", prompt depth {len(export.deep_text) + 1}" if export.is_maple else ""))
        check_splice(export, towers)
        text_features, _ = rebuild_text_features(export, towers)
        if args.csv:
            classify(export, towers, text_features, args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
