"""Reference values of MaPLe's and MaPLe+LAMM's losses, features and gradients through both CLIP
towers, and of the prompted image tower's backward on its own.

Run (from the repository root, after Tools/make_tiny_clip.py has written Tests/Fixtures/clip-tiny
and Tests/Fixtures/clip-tiny-openclip; a Python with torch, transformers, open_clip, safetensors
and numpy):

    python Tools/make_maple_fixture.py [--fixtures Tests/Fixtures] [--out Tests/Fixtures/maple-loss]

Everything is seeded, so re-running reproduces identical files. The script checks itself with
asserts and prints the figures it checked.

MaPLe (Khattak et al., CVPR 2023; multimodal-prompt-learning trainers/maple.py and clip/model.py
TextEncoder / VisionTransformer_MaPLe / ResidualAttentionBlock_MaPLe) with n = 2 context vectors
and prompt depth J = 2 (the tiny towers have 2 blocks, so J - 1 = 1 deep prompt per tower):
  text prompt of class c (CTX_INIT "a photo of a", N_CTX 2):
      [SOT] [ctx_1] [ctx_2] [of] [a] [class-name rows of c] [.] [EOT], EOT-padded to 77
    ids from the tokenizer's "a photo of a <class>."; ctx replaces the rows of `a photo`
    (positions 1..2). The class-name rows are CLIP's word embeddings (MaPLe) or the trainable
    label vectors, every class-name token (MaPLe+LAMM, psi(z)). + positional embedding, causal
    pre-LN blocks with QuickGELU, final LayerNorm, row EOT @ text_projection.
  text deep prompt: entering text block 1, the rows at positions 1..n of every prompt are
    replaced by deep_text.1 [n, 32] (what block 0 made of them is dropped).
  image: patch conv, class token, + positional embedding, then n shallow prompt tokens
    vision_proj(ctx) (nn.Linear 32 -> 32) appended after the class and patch tokens (no
    positional embedding), pre-LN, unmasked blocks; entering vision block 1 the last n tokens
    are replaced by deep_proj.1(deep_text.1); post-LN of the class token @ visual projection.
  logits[b, c] = tau * cos(I_b, psi(z_c)), tau = exp(logit_scale) = 100 (the checkpoints' value).
  MaPLe:       L = L_CE = mean_b -log softmax(logits_b)[label_b].
  MaPLe+LAMM (LAMM trainers/maple.py with --triplet-loss, helpers.distillation):
      L = L_CE + wc L_WC + cos L_COS + kd L_KD,  wc = 1/shots = 0.25, cos = 1, kd = 0.05, T = 2,
      L_WC  = sum (label_vectors - label_init)^2,
      L_COS = mean over the samples b whose batch holds another class of
              1 - cos(psi(z_{y_b}), detach(psi(y_{y_b}))),
      L_KD  = T^2 mean_b CE(fix_logits_b / T, target softmax(logits_b / T)) (target not detached),
      psi(y_c) = the same prompt with CLIP's class tokens, under the current ctx and deep prompts
      (gradient flows through it in L_KD), fix_logits = tau * cos(I_b, psi(y_c)).

Both checkpoints are run: clip-tiny through transformers' CLIPModel weights and modules
(attention computed from q/k/v/out_proj with the additive causal mask, since transformers takes
the softmax in float32 and ignores a causal_attention_mask keyword on encoder layers), and
clip-tiny-openclip through open_clip's own CLIP modules (its resblocks, nn.MultiheadAttention,
attn_mask, ln_final, text_projection, visual.conv1 / ln_pre / ln_post / proj). Their results are
asserted to agree to 1e-6 relative; the results below carry the prefixes `hf.` and `openclip.`
only when their F32 roundings differ, otherwise one unprefixed set serves both
(reference.json "result_prefixes" says which).

Precision: every stored result is computed in float64 from the stored F32 inputs (upcast) and
rounded to F32 once. The same computation in float32 (transformers path) is recorded in
reference.json ("checks") as the spread an F32 implementation can expect.

reference.safetensors (K = 4 classes, B = 4 images, n = 2, W = 32 text and image width,
P = 24 projection, R = sum label_len rows)
  inputs
    prompt_ids             I32 [K, 77]  transformers' ids of "a photo of a <class>.", EOT-padded
    prompt_ids_open_clip   I32 [K, 77]  open_clip's ids of the same prompts, 0-padded
    eot                    I32 [K]      EOT position per prompt
    label_len              I32 [K]      class-name tokens per class (they start at position 5)
    labels                 I32 [B]      classes of the batch (two distinct, class 2 absent)
    pixels                 F32 [B, 3, 32, 32]  N(0, 1), seed 2027: already normalised
    logit_scale            F32 [1]      ln(100), the checkpoints' value
    shots                  I32 [1]      4
    loss_weights           F32 [4]      (wc, cos, kd, T) = (0.25, 1, 0.05, 2)
    context_init           F32 [n, W]   word embeddings of `a photo`
    context                F32 [n, W]   context_init + N(0, 0.05)
    deep_text.1            F32 [n, W]   N(0, 0.02) (MaPLe's init) + N(0, 0.15)
    vision_proj.weight     F32 [W, W]   nn.Linear init + N(0, 0.05)
    vision_proj.bias       F32 [W]      nn.Linear init + N(0, 0.05)
    deep_proj.1.weight     F32 [W, W]   another nn.Linear init + N(0, 0.05)
    deep_proj.1.bias       F32 [W]      another nn.Linear init + N(0, 0.05)
    label_init             F32 [R, W]   word embeddings of the class-name tokens, class by class
    label_vectors          F32 [R, W]   label_init + N(0, 0.05) (MaPLe+LAMM's trained state)
  results, for <m> in maple, maple_lamm (each possibly under hf. / openclip., see above)
    <m>.text_features      F32 [K, P]   psi(z_c) / |psi(z_c)|
    <m>.image_features     F32 [B, P]   prompted image features / their norm
    <m>.logits             F32 [B, K]   tau * cos(I_b, psi(z_c))
    <m>.loss_ce, <m>.loss_total                         F32 [1]
    <m>.grad.context, <m>.grad.deep_text.1, <m>.grad.vision_proj.weight,
    <m>.grad.vision_proj.bias, <m>.grad.deep_proj.1.weight, <m>.grad.deep_proj.1.bias
                           dL / d each trained tensor, shaped as that tensor
    maple_lamm.reference_features  F32 [K, P]  psi(y_c) / |psi(y_c)| (= maple.text_features)
    maple_lamm.fix_logits          F32 [B, K]  tau * cos(I_b, psi(y_c))
    maple_lamm.loss_wc, maple_lamm.loss_cos, maple_lamm.loss_kd   F32 [1]  unweighted terms
    maple_lamm.grad.label_vectors  F32 [R, W]
  the image tower alone (prompts at their F32 values, computed from the inputs above)
    vision.shallow_prompts     F32 [n, W]  vision_proj(context)
    vision.deep_prompts.1      F32 [n, W]  deep_proj.1(deep_text.1)
    vision.G                   F32 [B, P]  N(0, 1), seed 2028
    vision.image_features      F32 [B, P]  prompted image features at these prompts, unnormalised
    vision.image_features_clip F32 [B, P]  the unprompted tower's (get_image_features)
    vision.grad_shallow        F32 [n, W]  d sum(vision.image_features * G) / d shallow prompts
    vision.grad_deep.1         F32 [n, W]  ... / d deep prompts
Swift's MaPLePrompts.flattened lays the gradient out as context, deep_text.1,
vision_proj.weight, vision_proj.bias, deep_proj.1.weight, deep_proj.1.bias, then (MaPLe+LAMM)
the label vectors. reference.json holds the class names, prompts, settings, the figures checked
and the versions used.
"""

import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import open_clip
import safetensors
import torch
import torch.nn.functional as F
import transformers
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import load_file, save_file
from transformers import CLIPModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lamm_loss_fixture import attention, causal_mask, f32, i32  # noqa: E402  (main() is not run)

CONTEXT = 77
TEMPLATE = "a photo of a"
CLASSES = ["dog", "golden cat", "bird", "black bird"]
LABELS = [1, 3, 0, 1]
N_CTX = 2
DEPTH = 2
SHOTS = 4
WEIGHTS = dict(wc=1.0 / SHOTS, cos=1.0, kd=0.05)
TEMPERATURE = 2.0
CONTEXT_NOISE = 0.05
DEEP_INIT_STD = 0.02
DEEP_NOISE = 0.15
MAP_NOISE = 0.05
LABEL_NOISE = 0.05
PARAMS = ("context", "deep_text.1", "vision_proj.weight", "vision_proj.bias", "deep_proj.1.weight", "deep_proj.1.bias")
METHODS = ("maple", "maple_lamm")
TERMS = ("ce", "wc", "cos", "kd")


# ---------------------------------------------------------------------------
# Prompts


def build_prompts(hf_tok, oc_tok):
    """Prompt ids built piece by piece (so the class-name positions are known), checked against
    both tokenizers on the whole prompt."""
    sot, eot_id = hf_tok.bos_token_id, hf_tok.eos_token_id
    prefix = hf_tok.encode(TEMPLATE, add_special_tokens=False)
    period = hf_tok.encode(".", add_special_tokens=False)
    assert len(prefix) == 4 and len(period) == 1
    ids = torch.full((len(CLASSES), CONTEXT), eot_id, dtype=torch.int64)
    eot, length = [], []
    for k, name in enumerate(CLASSES):
        label = hf_tok.encode(name, add_special_tokens=False)
        row = [sot] + prefix + label + period + [eot_id]
        assert row == hf_tok(f"{TEMPLATE} {name}.")["input_ids"], row
        ids[k, : len(row)] = torch.tensor(row)
        eot.append(len(row) - 1)
        length.append(len(label))
    oc_ids = oc_tok([f"{TEMPLATE} {c}." for c in CLASSES])
    after = torch.arange(CONTEXT)[None] > torch.tensor(eot)[:, None]
    assert torch.equal(torch.where(after, eot_id, oc_ids), ids) and (oc_ids[after] == 0).all()
    return ids, oc_ids, torch.tensor(eot), torch.tensor(length)


def maple_rows(token_rows, context, label_vectors=None, length=None):
    """Prompt rows [K, 77, W]: rows 1..n are the context (replacing `a photo`) and, if given, the
    label vectors take each class's class-name rows (from position 5)."""
    k, n = token_rows.shape[0], context.shape[0]
    rows = torch.cat([token_rows[:, :1], context[None].expand(k, n, -1), token_rows[:, 1 + n:]], dim=1)
    if label_vectors is None:
        return rows
    start = 1 + len(TEMPLATE.split())
    pieces, r = [], 0
    for c in range(k):
        m = int(length[c])
        pieces.append(torch.cat([rows[c, :start], label_vectors[r: r + m], rows[c, start + m:]]))
        r += m
    return torch.stack(pieces)


def replace_text_rows(h, deep):
    """Entering a block: rows 1..n of every prompt become the deep prompt [n, W]."""
    n = deep.shape[0]
    return torch.cat([h[:, :1], deep[None].expand(h.shape[0], n, -1), h[:, 1 + n:]], dim=1)


def replace_image_rows(x, deep):
    """Entering a block: the last n tokens of every image become the deep prompt [n, W]."""
    n = deep.shape[0]
    return torch.cat([x[:, :-n], deep[None].expand(x.shape[0], n, -1)], dim=1)


# ---------------------------------------------------------------------------
# The two implementations of the towers


class HFTowers:
    """clip-tiny through transformers' CLIPModel weights and modules."""

    name = "hf"

    def __init__(self, model):
        self.model = model

    def token_rows(self, ids):
        return self.model.text_model.embeddings.token_embedding.weight[ids]

    @property
    def log_logit_scale(self):
        return self.model.logit_scale.reshape(())

    def text(self, rows, eot, deep=()):
        tm = self.model.text_model
        n = rows.shape[1]
        h = rows + tm.embeddings.position_embedding.weight[:n][None]
        mask = causal_mask(n, h.dtype)
        for l, layer in enumerate(tm.encoder.layers):
            if 1 <= l <= len(deep):
                h = replace_text_rows(h, deep[l - 1])
            h = h + attention(layer.self_attn, layer.layer_norm1(h), mask)
            h = h + layer.mlp(layer.layer_norm2(h))
        h = tm.final_layer_norm(h)
        return self.model.text_projection(h[torch.arange(h.shape[0]), eot])

    def image(self, pixels, shallow=None, deep=()):
        vm = self.model.vision_model
        e = vm.embeddings
        b = pixels.shape[0]
        x = e.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(b, 1, -1), x], dim=1) + e.position_embedding.weight[None]
        if shallow is not None:
            x = torch.cat([x, shallow[None].expand(b, -1, -1)], dim=1)
        x = vm.pre_layrnorm(x)
        for l, layer in enumerate(vm.encoder.layers):
            if shallow is not None and 1 <= l <= len(deep):
                x = replace_image_rows(x, deep[l - 1])
            x = x + attention(layer.self_attn, layer.layer_norm1(x), 0.0)
            x = x + layer.mlp(layer.layer_norm2(x))
        return self.model.visual_projection(vm.post_layernorm(x[:, 0]))

    def library_text(self, ids):
        out = self.model.get_text_features(input_ids=ids)
        return out if torch.is_tensor(out) else out.pooler_output

    def library_image(self, pixels):
        out = self.model.get_image_features(pixel_values=pixels)
        return out if torch.is_tensor(out) else out.pooler_output


class OpenCLIPTowers:
    """clip-tiny-openclip through open_clip's CLIP modules."""

    name = "openclip"

    def __init__(self, model):
        v = model.visual
        assert model.transformer.batch_first and v.transformer.batch_first
        assert v.attn_pool is None and v.pool_type == "tok" and not v.final_ln_after_pool
        assert model.text_pool_type == "argmax" and not isinstance(model.text_projection, torch.nn.Linear)
        self.model = model

    def token_rows(self, ids):
        return self.model.token_embedding.weight[ids]

    @property
    def log_logit_scale(self):
        return self.model.logit_scale.reshape(())

    def text(self, rows, eot, deep=()):
        m = self.model
        x = rows + m.positional_embedding[None]
        for l, block in enumerate(m.transformer.resblocks):
            if 1 <= l <= len(deep):
                x = replace_text_rows(x, deep[l - 1])
            x = block(x, attn_mask=m.attn_mask)
        x = m.ln_final(x)
        return x[torch.arange(x.shape[0]), eot] @ m.text_projection

    def image(self, pixels, shallow=None, deep=()):
        v = self.model.visual
        b = pixels.shape[0]
        x = v.conv1(pixels)
        x = x.reshape(b, x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([v.class_embedding.expand(b, 1, -1), x], dim=1) + v.positional_embedding[None]
        x = v.patch_dropout(x)
        if shallow is not None:
            x = torch.cat([x, shallow[None].expand(b, -1, -1)], dim=1)
        x = v.ln_pre(x)
        for l, block in enumerate(v.transformer.resblocks):
            if shallow is not None and 1 <= l <= len(deep):
                x = replace_image_rows(x, deep[l - 1])
            x = block(x)
        return v.ln_post(x[:, 0]) @ v.proj

    def library_text(self, ids):
        return self.model.encode_text(ids)

    def library_image(self, pixels):
        return self.model.encode_image(pixels)


# ---------------------------------------------------------------------------
# Losses


def distillation(t, s, T):
    """LAMM helpers.distillation: T^2 * CE(s / T, softmax(t / T)), the target not detached."""
    p = F.softmax(t / T, dim=1)
    return F.cross_entropy(s / T, p, reduction="mean") * (T ** 2)


def feature_loss(text_features, fix_label_features, label):
    """LAMM trainers/maple.py FeatureLoss: mean over the samples whose batch holds another class
    of 1 - cos(psi(z_{y_b}), detach(psi(y_{y_b})))."""
    loss, count = text_features.new_zeros(()), 0
    for i in range(label.shape[0]):
        if (label != label[i]).sum() > 0:
            index = label[i]
            loss = loss + (1 - F.cosine_similarity(text_features[index][None],
                                                   fix_label_features[index][None].detach()).squeeze())
            count += 1
    return loss / count if count else loss


def objective(towers, method, x, c, cos_reference=None):
    """The loss of `method` and what it is made of, for the trained tensors x (dict by name) and
    the constants c. `cos_reference` replaces psi(y) in L_COS (where it is detached anyway): the
    finite differences hold it at its value at the point they differentiate at."""
    deep_text = [x["deep_text.1"]]
    rows = c["token_rows"]
    lamm = method == "maple_lamm"
    z_rows = maple_rows(rows, x["context"], x["label_vectors"], c["label_len"]) if lamm else maple_rows(rows, x["context"])
    txt = F.normalize(towers.text(z_rows, c["eot"], deep_text), dim=-1)
    shallow = F.linear(x["context"], x["vision_proj.weight"], x["vision_proj.bias"])
    deep_vision = [F.linear(x["deep_text.1"], x["deep_proj.1.weight"], x["deep_proj.1.bias"])]
    img = F.normalize(towers.image(c["pixels"], shallow, deep_vision), dim=-1)
    tau = c["log_logit_scale"].exp()
    logits = tau * img @ txt.T
    out = dict(text_features=txt, image_features=img, logits=logits, loss_ce=F.cross_entropy(logits, c["labels"]))
    if not lamm:
        out["loss_total"] = out["loss_ce"]
        return out
    ref = F.normalize(towers.text(maple_rows(rows, x["context"]), c["eot"], deep_text), dim=-1)
    fix_logits = tau * img @ ref.T
    out.update(reference_features=ref, fix_logits=fix_logits,
               loss_wc=F.mse_loss(x["label_vectors"], c["label_init"], reduction="sum"),
               loss_cos=feature_loss(txt, ref if cos_reference is None else cos_reference, c["labels"]),
               loss_kd=distillation(logits, fix_logits, c["temperature"]))
    out["loss_total"] = (out["loss_ce"] + WEIGHTS["wc"] * out["loss_wc"] + WEIGHTS["cos"] * out["loss_cos"]
                         + WEIGHTS["kd"] * out["loss_kd"])
    return out


def constants(towers, ids, eot, length, inputs, dtype):
    return dict(token_rows=towers.token_rows(ids), eot=eot, label_len=length, labels=inputs["labels"],
                pixels=inputs["pixels"].to(dtype), label_init=inputs["label_init"].to(dtype),
                log_logit_scale=towers.log_logit_scale, temperature=TEMPERATURE)


def evaluate(towers, ids, eot, length, inputs, dtype):
    """Both methods' results and gradients, and the image tower alone, in dtype."""
    c = constants(towers, ids, eot, length, inputs, dtype)
    res = {}
    for method in METHODS:
        names = PARAMS + (("label_vectors",) if method == "maple_lamm" else ())
        x = {k: inputs[k].to(dtype).clone().requires_grad_(True) for k in names}
        out = objective(towers, method, x, c)
        grads = torch.autograd.grad(out["loss_total"], [x[k] for k in names])
        for k, v in out.items():
            res[f"{method}.{k}"] = v.detach()
        for k, g in zip(names, grads):
            res[f"{method}.grad.{k}"] = g

    # The image tower alone, at the prompts rounded to F32.
    shallow = inputs["vision.shallow_prompts"].to(dtype).clone().requires_grad_(True)
    deep = inputs["vision.deep_prompts.1"].to(dtype).clone().requires_grad_(True)
    feats = towers.image(c["pixels"], shallow, [deep])
    res["vision.grad_shallow"], res["vision.grad_deep.1"] = torch.autograd.grad(
        (feats * inputs["vision.G"].to(dtype)).sum(), (shallow, deep))
    res["vision.image_features"] = feats.detach()
    with torch.no_grad():
        res["vision.image_features_clip"] = towers.image(c["pixels"])
    return res, c


# ---------------------------------------------------------------------------
# Checks


def check_towers(towers, ids, eot, length, inputs, c, gen):
    """(a) with the context at `a photo`, no deep prompts and CLIP's class tokens the manual text
    forward is the library's encode_text / get_text_features on the real ids; (b) rows after EOT
    do not matter, with the prompts and label vectors perturbed and deep prompts on; (c) without
    prompts the manual image forward is the library's encode_image / get_image_features; the deep
    prompts and the vision prompts do change the features."""
    name = towers.name
    with torch.no_grad():
        dtype = c["token_rows"].dtype
        ctx0 = inputs["context_init"].to(dtype)
        lab0 = inputs["label_init"].to(dtype)
        rows = maple_rows(c["token_rows"], ctx0, lab0, length)
        assert torch.equal(rows, c["token_rows"]), "context_init / label_init are not the prompt's rows"
        manual = towers.text(rows, eot)
        library = towers.library_text(ids)
        d_text = ((manual - library).abs().max() / library.abs().max()).item()

        ctx, lab, deep = (inputs[k].to(dtype) for k in ("context", "label_vectors", "deep_text.1"))
        base = towers.text(maple_rows(c["token_rows"], ctx, lab, length), eot, [deep])
        after = torch.arange(CONTEXT)[None] > eot[:, None]
        noisy_rows = torch.where(after[..., None], torch.randn(c["token_rows"].shape, generator=gen, dtype=dtype),
                                 c["token_rows"])
        moved = towers.text(maple_rows(noisy_rows, ctx, lab, length), eot, [deep])
        d_causal = (moved - base).abs().max().item()
        no_deep = towers.text(maple_rows(c["token_rows"], ctx, lab, length), eot)
        d_deep = ((base - no_deep).abs().max() / base.abs().max()).item()

        manual_img = towers.image(c["pixels"])
        library_img = towers.library_image(c["pixels"])
        d_img = ((manual_img - library_img).abs().max() / library_img.abs().max()).item()
        prompted = towers.image(c["pixels"], inputs["vision.shallow_prompts"].to(dtype),
                                [inputs["vision.deep_prompts.1"].to(dtype)])
        shallow_only = towers.image(c["pixels"], inputs["vision.shallow_prompts"].to(dtype))
        d_vprompt = ((prompted - manual_img).abs().max() / manual_img.abs().max()).item()
        d_vdeep = ((prompted - shallow_only).abs().max() / prompted.abs().max()).item()
    # transformers' eager attention takes its softmax in float32 even for a float64 model, so its
    # float64 answer is good to ~1e-8 only; open_clip's nn.MultiheadAttention runs in float64.
    tol = 1e-5 if dtype != torch.float64 else 1e-12 if name == "openclip" else 1e-6
    assert d_text < tol and d_causal == 0.0 and d_img < tol, (name, dtype, d_text, d_causal, d_img)
    assert d_deep > 1e-2 and d_vprompt > 1e-2 and d_vdeep > 1e-2, (name, d_deep, d_vprompt, d_vdeep)
    lib_t = "encode_text" if name == "openclip" else "get_text_features"
    lib_i = "encode_image" if name == "openclip" else "get_image_features"
    print(f"[{name} {str(dtype)[6:]}] (a) ctx = `a photo`, no deep prompts, CLIP class tokens: manual text feature vs "
          f"{lib_t}: max rel diff {d_text:.3e}")
    print(f"[{name} {str(dtype)[6:]}] (b) rows after EOT replaced by noise (ctx, label vectors, deep prompt on): "
          f"max|diff| {d_causal:.3e}; the deep prompt moves the features by {d_deep:.3e} (rel)")
    print(f"[{name} {str(dtype)[6:]}] (c) no vision prompts: manual image feature vs {lib_i}: max rel diff {d_img:.3e}; "
          f"prompts move it by {d_vprompt:.3e}, the deep one alone by {d_vdeep:.3e} (rel)")
    key = f"{name}_{str(dtype)[6:]}"
    return {f"{key}.text_vs_{lib_t}_rel": d_text, f"{key}.rows_after_eot_feature_diff": d_causal,
            f"{key}.deep_text_prompt_feature_change_rel": d_deep, f"{key}.image_vs_{lib_i}_rel": d_img,
            f"{key}.vision_prompts_feature_change_rel": d_vprompt, f"{key}.deep_vision_prompt_feature_change_rel": d_vdeep}


def central_differences(loss_at, x, grad, gen, count=3, eps=1e-6):
    """Worst relative error of grad against (L(x + eps) - L(x - eps)) / 2 eps at `count` random
    entries of x (float64)."""
    worst = 0.0
    flat = x.reshape(-1)
    for i in torch.randint(0, flat.numel(), (count,), generator=gen).tolist():
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        fd = (loss_at(plus.view_as(x)) - loss_at(minus.view_as(x))).item() / (2 * eps)
        an = grad.reshape(-1)[i].item()
        worst = max(worst, abs(fd - an) / max(abs(an), 1e-3 * grad.abs().max().item()))
    return worst


def check_gradients(towers, res, c, inputs):
    """Central differences in float64 for every trained tensor of both methods and for the image
    tower alone (L_COS's detached psi(y) held at its value at the inputs); per-term consistency."""
    figures = {}
    gen = torch.Generator().manual_seed(11)
    dtype = torch.float64
    for method in METHODS:
        names = PARAMS + (("label_vectors",) if method == "maple_lamm" else ())
        base = {k: inputs[k].to(dtype) for k in names}
        for k in names:
            def loss_at(v, k=k):
                with torch.no_grad():
                    return objective(towers, method, {**base, k: v}, c,
                                     cos_reference=res.get("maple_lamm.reference_features"))["loss_total"]
            worst = central_differences(loss_at, base[k], res[f"{method}.grad.{k}"], gen)
            figures[f"finite_difference.{method}.grad.{k}"] = worst
            assert worst < 1e-6, (method, k, worst)
    G = inputs["vision.G"].to(dtype)
    shallow, deep = inputs["vision.shallow_prompts"].to(dtype), inputs["vision.deep_prompts.1"].to(dtype)
    for k, x in (("grad_shallow", shallow), ("grad_deep.1", deep)):
        def loss_at(v, k=k):
            with torch.no_grad():
                s, d = (v, deep) if k == "grad_shallow" else (shallow, v)
                return (towers.image(c["pixels"], s, [d]) * G).sum()
        worst = central_differences(loss_at, x, res[f"vision.{k}"], gen, count=6)
        figures[f"finite_difference.vision.{k}"] = worst
        assert worst < 1e-6, (k, worst)
    print(f"[{towers.name}] central differences (float64, eps 1e-6), worst relative error per tensor: "
          + ", ".join(f"{k[18:]} {v:.1e}" for k, v in figures.items()))

    # The pieces: L_WC's closed form; L_CE an independent cross-entropy of the stored logits; the
    # reference features are MaPLe's text features (same ctx and deep prompts, CLIP's tokens).
    lam = "maple_lamm."
    d_wc = abs(res[lam + "loss_wc"].item() - ((inputs["label_vectors"].double() - inputs["label_init"].double()) ** 2).sum().item())
    d_ref = (res[lam + "reference_features"] - res["maple.text_features"]).abs().max().item()
    d_img = (res[lam + "image_features"] - res["maple.image_features"]).abs().max().item()
    assert d_wc < 1e-12 and d_ref == 0.0 and d_img == 0.0, (d_wc, d_ref, d_img)
    for m in METHODS:
        assert abs(F.cross_entropy(res[m + ".logits"], c["labels"]).item() - res[m + ".loss_ce"].item()) < 1e-12
    assert res[lam + "loss_cos"].item() > 0 and res[lam + "loss_kd"].item() > 0
    for k, v in res.items():
        if ".grad" in k:
            assert v.abs().max().item() > 1e-6, k
    return figures


# ---------------------------------------------------------------------------
# Inputs


def linear_init(gen, inputs, outputs):
    """nn.Linear's default initialisation: weight and bias U(-1/sqrt(inputs), 1/sqrt(inputs))."""
    bound = 1 / math.sqrt(inputs)
    return ((torch.rand((outputs, inputs), generator=gen) * 2 - 1) * bound,
            (torch.rand((outputs,), generator=gen) * 2 - 1) * bound)


def make_inputs(emb, ids, hf_tok, length):
    gen = torch.Generator().manual_seed(2026)
    prefix = hf_tok.encode(TEMPLATE, add_special_tokens=False)
    context_init = emb[torch.tensor(prefix[:N_CTX])].clone()
    label_init = torch.cat([emb[ids[k, 5: 5 + int(length[k])]] for k in range(len(CLASSES))]).clone()
    w = emb.shape[1]
    inputs = {"context_init": context_init, "label_init": label_init,
              "context": context_init + CONTEXT_NOISE * torch.randn(context_init.shape, generator=gen),
              "deep_text.1": DEEP_INIT_STD * torch.randn((N_CTX, w), generator=gen)
              + DEEP_NOISE * torch.randn((N_CTX, w), generator=gen)}
    for name in ("vision_proj", "deep_proj.1"):
        weight, bias = linear_init(gen, w, w)
        inputs[f"{name}.weight"] = weight + MAP_NOISE * torch.randn(weight.shape, generator=gen)
        inputs[f"{name}.bias"] = bias + MAP_NOISE * torch.randn(bias.shape, generator=gen)
    inputs["label_vectors"] = label_init + LABEL_NOISE * torch.randn(label_init.shape, generator=gen)
    inputs["pixels"] = torch.randn((len(LABELS), 3, 32, 32), generator=torch.Generator().manual_seed(2027))
    inputs["vision.G"] = torch.randn((len(LABELS), 24), generator=torch.Generator().manual_seed(2028))
    inputs["labels"] = torch.tensor(LABELS)
    # The image tower's own prompts at F32, from the F32 inputs in float64.
    d = {k: v.double() for k, v in inputs.items() if v.is_floating_point()}
    inputs["vision.shallow_prompts"] = f32(F.linear(d["context"], d["vision_proj.weight"], d["vision_proj.bias"]))
    inputs["vision.deep_prompts.1"] = f32(F.linear(d["deep_text.1"], d["deep_proj.1.weight"], d["deep_proj.1.bias"]))
    return {k: (f32(v) if v.is_floating_point() else v) for k, v in inputs.items()}


def load_models(fixtures):
    transformers.utils.logging.disable_progress_bar()
    hf_dir = os.path.join(fixtures, "clip-tiny")
    oc_dir = os.path.join(fixtures, "clip-tiny-openclip")
    hf_tok = CLIPTokenizer.from_pretrained(hf_dir)
    oc_tok = SimpleTokenizer(os.path.join(oc_dir, "bpe_simple_vocab_16e6.txt.gz"), context_length=CONTEXT)
    hf32, info = CLIPModel.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager",
                                           output_loading_info=True)
    assert not any(info.values()), info
    with open(os.path.join(oc_dir, "open_clip_config.json")) as f:
        cfg = json.load(f)
    oc32 = open_clip.model.CLIP(**cfg["model_cfg"])
    oc32.load_state_dict(load_file(os.path.join(oc_dir, "open_clip_model.safetensors")), strict=True)
    models = {}
    for key, model in (("hf", hf32), ("openclip", oc32)):
        model.eval()
        m64 = copy.deepcopy(model).double()
        for p in list(model.parameters()) + list(m64.parameters()):
            p.requires_grad_(False)
        towers = HFTowers if key == "hf" else OpenCLIPTowers
        models[key] = (towers(model), towers(m64))
    return hf_tok, oc_tok, models


# ---------------------------------------------------------------------------


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=os.path.join(here, "..", "Tests", "Fixtures"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    fixtures = os.path.normpath(args.fixtures)
    out_dir = args.out or os.path.join(fixtures, "maple-loss")
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)

    hf_tok, oc_tok, models = load_models(fixtures)
    ids, oc_ids, eot, length = build_prompts(hf_tok, oc_tok)
    for k, name in enumerate(CLASSES):
        print(f"  {name!r}: {ids[k, : int(eot[k]) + 1].tolist()} context rows 1..{N_CTX}, class-name rows "
              f"5..{4 + int(length[k])}, EOT {int(eot[k])}")
    hf32, hf64 = models["hf"]
    emb = hf32.model.text_model.embeddings.token_embedding.weight
    assert torch.equal(emb, models["openclip"][0].model.token_embedding.weight)
    inputs = make_inputs(emb, ids, hf_tok, length)
    labels = inputs["labels"]
    assert labels.unique().numel() >= 2
    log_scale = hf32.log_logit_scale.item()
    assert abs(log_scale - math.log(100.0)) < 1e-6 and models["openclip"][0].log_logit_scale.item() == log_scale

    figures = {}
    results = {}
    gen = torch.Generator().manual_seed(2029)
    for key, tok_ids in (("hf", ids), ("openclip", oc_ids)):
        t32, t64 = models[key]
        res64, c64 = evaluate(t64, tok_ids, eot, length, inputs, torch.float64)
        figures.update(check_towers(t64, tok_ids, eot, length, inputs, c64, gen))
        c32 = constants(t32, tok_ids, eot, length, inputs, torch.float32)
        figures.update(check_towers(t32, tok_ids, eot, length, inputs, c32, gen))
        figures.update({f"{key}.{k}": v for k, v in check_gradients(t64, res64, c64, inputs).items()})
        results[key] = res64
        if key == "hf":
            res32, _ = evaluate(t32, tok_ids, eot, length, inputs, torch.float32)
            for k, v in res64.items():
                scale = v.abs().max().item()
                figures[f"f32_vs_f64_rel.{k}"] = (res32[k].double() - v).abs().max().item() / max(scale, 1e-30)
            print("float32 vs float64 (transformers path), worst |diff| / max|value|: " + ", ".join(
                f"{k}: {figures[f'f32_vs_f64_rel.{k}']:.1e}" for k in res64 if "grad" in k or "loss_total" in k))

    # The two implementations agree; one set is stored when their F32 roundings are identical.
    worst_agreement, identical = 0.0, True
    for k, v in results["hf"].items():
        o = results["openclip"][k]
        rel = (v - o).abs().max().item() / max(v.abs().max().item(), 1e-30)
        worst_agreement = max(worst_agreement, rel)
        assert rel < 1e-6, (k, rel)
        identical &= torch.equal(f32(v), f32(o))
    figures["hf_vs_openclip_worst_rel_diff"] = worst_agreement
    figures["hf_vs_openclip_f32_identical"] = identical
    print(f"transformers vs open_clip (float64): worst relative difference over every result {worst_agreement:.3e}; "
          f"F32 roundings identical: {identical}")

    for m in METHODS:
        r = results["hf"]
        p = F.softmax(r[f"{m}.logits"], -1)[torch.arange(len(LABELS)), labels]
        terms = " ".join(f"L_{t.upper()} = {r[f'{m}.loss_{t}'].item():.9g}" for t in TERMS if f"{m}.loss_{t}" in r)
        print(f"[{m}] {terms}  L = {r[f'{m}.loss_total'].item():.9g}; softmax of the true class "
              + " ".join(f"{v:.3f}" for v in p.tolist()))
        print(f"[{m}] max|grad|: " + ", ".join(
            f"{k.split('.grad.')[1]} {v.abs().max().item():.3e}" for k, v in r.items() if k.startswith(f"{m}.grad.")))
    r = results["hf"]
    print(f"[vision] max|grad_shallow| {r['vision.grad_shallow'].abs().max().item():.3e}, "
          f"max|grad_deep.1| {r['vision.grad_deep.1'].abs().max().item():.3e}")

    tensors = {"prompt_ids": i32(ids), "prompt_ids_open_clip": i32(oc_ids), "eot": i32(eot), "label_len": i32(length),
               "labels": i32(labels), "logit_scale": f32(hf32.log_logit_scale.detach()),
               "shots": torch.tensor([SHOTS], dtype=torch.int32),
               "loss_weights": torch.tensor([WEIGHTS["wc"], WEIGHTS["cos"], WEIGHTS["kd"], TEMPERATURE], dtype=torch.float32)}
    for k, v in inputs.items():
        if k != "labels":
            tensors[k] = f32(v)
    prefixes = [""] if identical else ["hf.", "openclip."]
    for prefix, key in zip(prefixes, ("hf", "openclip")):
        for k, v in results[key].items():
            tensors[prefix + k] = f32(v)

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "reference.safetensors")
    save_file(tensors, path)
    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "open_clip": open_clip.__version__, "safetensors": safetensors.__version__,
                     "numpy": np.__version__},
        "models": {"hf": "Tests/Fixtures/clip-tiny (transformers CLIPModel)",
                   "openclip": "Tests/Fixtures/clip-tiny-openclip (open_clip CLIP)"},
        "result_prefixes": prefixes,
        "template": f"{TEMPLATE} <class>.",
        "prompt_layout": "[SOT] [ctx_1] [ctx_2] [of] [a] [class-name rows] [.] [EOT]: context at positions 1..2, "
                         "class-name rows from position 5; deep_text.1 replaces positions 1..2 entering text block 1; "
                         "image prompts appended after the class and patch tokens, the last 2 replaced entering "
                         "vision block 1",
        "class_names": CLASSES,
        "prompts": [f"{TEMPLATE} {c}." for c in CLASSES],
        "labels": LABELS,
        "context_length": N_CTX,
        "prompt_depth": DEPTH,
        "shots": SHOTS,
        "loss_weights": dict(WEIGHTS, temperature=TEMPERATURE),
        "logit_scale": math.log(100.0),
        "noise": {"context": CONTEXT_NOISE, "deep_text_init": DEEP_INIT_STD, "deep_text": DEEP_NOISE,
                  "coupling_maps": MAP_NOISE, "label_vectors": LABEL_NOISE},
        "methods": {
            "maple": "class-name rows are CLIP's word embeddings; L = L_CE",
            "maple_lamm": "class-name rows are the label vectors (every token); L = L_CE + 0.25 L_WC + L_COS + 0.05 L_KD "
                          "with psi(y) under the current ctx and deep prompts",
        },
        "precision": "stored results computed in float64 from the F32 inputs and rounded to F32; "
                     "checks.f32_vs_f64_rel.* give the float32 computation's distance (worst |diff| / max|value|)",
        "checks": figures,
    }
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
