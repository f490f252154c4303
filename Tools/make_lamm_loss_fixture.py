"""Reference values of the LAMM loss and its gradient with respect to the label vectors.

Run (from the repository root, after Tools/make_tiny_clip.py has written
Tests/Fixtures/clip-tiny; same Python environment):

    python Tools/make_lamm_loss_fixture.py [--clip Tests/Fixtures/clip-tiny] [--out Tests/Fixtures/lamm-loss]

Everything is seeded, so re-running reproduces identical files. The script checks itself
with asserts and prints the figures it checked.

The loss is the one of docs/LAMM.md ("Losses"), for K = 4 classes ("dog", "cat",
"golden retriever", "hummingbird") with the prompt `a photo of a <class>.`:
    logits_LAMM[b, i] = tau * cos(I_b, psi(z_i)),  logits_CLIP[b, i] = tau * cos(I_b, psi(y_i))
    L_CE  = mean_b  -log softmax(logits_LAMM[b])[label_b]
    L_WC  = sum over every entry of (label_vectors - label_init)^2
    L_COS = mean_b  1 - cos(psi(z_{label_b}), psi(y_{label_b}))      (0 if the batch holds one class)
    L_KD  = T^2 * mean_b  -sum_i softmax_i(logits_LAMM[b] / T) * log softmax_i(logits_CLIP[b] / T)
    L     = L_CE + lambda1 L_WC + lambda2 L_COS + lambda3 L_KD,  lambdas = (1/n, 1, 0.05), T = 2
psi(z_i) runs the frozen clip-tiny text tower on the prompt's token-embedding rows with the
class-name rows replaced by that class's label vectors; psi(y_i) uses the original rows and is a
constant (no gradient flows through logits_CLIP or psi(y)). tau = exp(logit_scale) = 100.

Precision: every stored loss, gradient and feature is computed in float64 from the stored F32
inputs (upcast) and rounded to F32 once at the end. The text tower runs in a manual forward
(own attention with an additive causal mask of the dtype's most negative value), because
transformers' eager attention takes its softmax in float32 even for a float64 model. The same
computation in float32 is stored too, under the prefix `f32.`, to show the spread an F32
implementation can expect.

reference.safetensors (K = 4, R = sum label_len rows, W = 32 width, P = 24 projection, B = 8)
    prompt_ids          I32 [K, 77]  SOT, encode("a photo of a"), encode(class), encode("."), EOT,
                                     then the EOT id up to 77 (transformers' padding)
    eot                 I32 [K]      position of EOT in each prompt
    label_start         I32 [K]      first class-name position (5 for this template)
    label_len           I32 [K]      number of class-name tokens
    label_init          F32 [R, W]   token-embedding rows of the class-name tokens, class by class
    label_vectors       F32 [R, W]   label_init + N(0, 0.05): the current trainable state
    image_features      F32 [B, P]   3 * (psi(y_label) / |psi(y_label)| + N(0, 0.2)): random but near
                                     their class, not normalised (the loss normalises)
    labels              I32 [B]      classes of the batch (at least two distinct)
    logit_scale         F32 [1]      ln(100) (the model's value)
    shots               I32 [1]      n = 4
    lambdas             F32 [3]      (1/n, 1, 0.05)
    temperature         F32 [1]      T = 2
    logits_lamm         F32 [B, K]   tau * cos(I_b, psi(z_i))
    logits_clip         F32 [B, K]   tau * cos(I_b, psi(y_i))
    text_features_lamm  F32 [K, P]   psi(z_i) / |psi(z_i)|
    text_features_clip  F32 [K, P]   psi(y_i) / |psi(y_i)|
    loss_ce, loss_wc, loss_cos, loss_kd, loss_total   F32 [1]
    grad_total          F32 [R, W]   dL / d label_vectors
    grad_ce, grad_wc, grad_cos, grad_kd               F32 [R, W]  gradients of the unweighted terms
    single.labels, single.image_features, single.logits_lamm, single.logits_clip,
    single.loss_*, single.grad_*     the same batch size with every sample of one class
                                     (L_COS = 0 and grad_cos = 0 there); everything else shared
    f32.loss_*, f32.grad_*, single.f32.loss_*, single.f32.grad_*   the float32 computation
reference.json holds the class names, the template, the figures checked and the versions used.
"""

import argparse
import copy
import json
import math
import os

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import CLIPModel, CLIPTokenizer

CONTEXT = 77
TEMPLATE = "a photo of a"
CLASSES = ["dog", "cat", "golden retriever", "hummingbird"]
BATCH = 8
SHOTS = 4
LAMBDAS = (1.0 / SHOTS, 1.0, 0.05)
TEMPERATURE = 2.0
LABEL_NOISE = 0.05
IMAGE_NOISE = 0.2
IMAGE_SCALE = 3.0
TERMS = ("ce", "wc", "cos", "kd")


# ---------------------------------------------------------------------------
# Prompts


def build_prompts(tok):
    """Prompt ids built piece by piece so that the class-name positions are known exactly."""
    sot, eot_id = tok.bos_token_id, tok.eos_token_id
    prefix = tok.encode(TEMPLATE, add_special_tokens=False)
    period = tok.encode(".", add_special_tokens=False)
    ids = torch.full((len(CLASSES), CONTEXT), eot_id, dtype=torch.int64)
    eot, start, length = [], [], []
    for k, name in enumerate(CLASSES):
        label = tok.encode(name, add_special_tokens=False)
        row = [sot] + prefix + label + period + [eot_id]
        # The pieces must give what the tokenizer gives for the whole prompt, or the label
        # rows would not be where a user of the tokenizer finds them.
        whole = tok(f"{TEMPLATE} {name}.")["input_ids"]
        assert row == whole, (row, whole)
        ids[k, : len(row)] = torch.tensor(row)
        eot.append(len(row) - 1)
        start.append(1 + len(prefix))
        length.append(len(label))
    return ids, torch.tensor(eot), torch.tensor(start), torch.tensor(length)


# ---------------------------------------------------------------------------
# Text tower (manual forward, any dtype)


def causal_mask(n, dtype):
    """Additive mask [n, n]: 0 on and below the diagonal, the dtype's most negative value above."""
    return torch.triu(torch.full((n, n), torch.finfo(dtype).min, dtype=dtype), diagonal=1)


def attention(attn, x, mask):
    """CLIPAttention with the softmax taken in x's dtype."""
    b, n, w = x.shape
    h = attn.num_heads
    d = w // h

    def heads(t):
        return t.view(b, n, h, d).transpose(1, 2)

    q, k, v = heads(attn.q_proj(x)), heads(attn.k_proj(x)), heads(attn.v_proj(x))
    scores = (q @ k.transpose(-1, -2)) * attn.scale + mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, w)
    return attn.out_proj(out)


def text_features(model, inputs_embeds, eot):
    """Unnormalised text features from token-embedding rows [K, 77, W]: + positions ->
    pre-LN encoder layers with the causal mask -> final LayerNorm -> row eot -> projection."""
    tm = model.text_model
    n = inputs_embeds.shape[1]
    h = inputs_embeds + tm.embeddings.position_embedding.weight[:n][None]
    mask = causal_mask(n, h.dtype)
    for layer in tm.encoder.layers:
        h = h + attention(layer.self_attn, layer.layer_norm1(h), mask)
        h = h + layer.mlp(layer.layer_norm2(h))
    h = tm.final_layer_norm(h)
    return model.text_projection(h[torch.arange(h.shape[0]), eot])


def splice(token_rows, label_vectors, start, length):
    """Prompt rows [K, 77, W] with each class's label rows replaced by its label vectors."""
    pieces, r = [], 0
    for k in range(token_rows.shape[0]):
        s, m = int(start[k]), int(length[k])
        pieces.append(torch.cat([token_rows[k, :s], label_vectors[r: r + m], token_rows[k, s + m:]]))
        r += m
    return torch.stack(pieces)


# ---------------------------------------------------------------------------
# Loss


def lamm_loss_terms(t_lamm, t_clip, image_features, labels, label_vectors, label_init,
                    logit_scale, temperature):
    """The four unweighted terms of LAMM.md ("Losses") from unit text features t_lamm = psi(z) and
    t_clip = psi(y) [K, P] (t_clip constant), unnormalised image features [B, P] and labels [B]."""
    img = F.normalize(image_features, dim=-1)
    tau = logit_scale.exp()
    logits_lamm = tau * img @ t_lamm.T
    logits_clip = tau * img @ t_clip.T

    ce = F.cross_entropy(logits_lamm, labels)
    wc = ((label_vectors - label_init) ** 2).sum()
    if labels.unique().numel() > 1:
        cos = (1.0 - (t_lamm[labels] * t_clip[labels]).sum(-1)).mean()
    else:
        # A (positive) zero that still has a gradient, for a uniform interface.
        cos = 0.0 * label_vectors.sum() + 0.0
    teacher = F.softmax(logits_lamm / temperature, dim=-1)  # the gradient flows through here
    kd = temperature ** 2 * (-(teacher * F.log_softmax(logits_clip / temperature, dim=-1)).sum(-1)).mean()
    return dict(ce=ce, wc=wc, cos=cos, kd=kd, logits_lamm=logits_lamm, logits_clip=logits_clip)


def lamm_terms(model, token_rows, eot, start, length, label_vectors, label_init,
               image_features, labels, logit_scale, temperature):
    """lamm_loss_terms with both prompts' features run through the manual forward."""
    t_lamm = F.normalize(text_features(model, splice(token_rows, label_vectors, start, length), eot), dim=-1)
    with torch.no_grad():
        t_clip = F.normalize(text_features(model, token_rows, eot), dim=-1)
    terms = lamm_loss_terms(t_lamm, t_clip, image_features, labels, label_vectors, label_init,
                            logit_scale, temperature)
    return dict(terms, t_lamm=t_lamm, t_clip=t_clip)


def total(terms, lambdas):
    """L = L_CE + lambda1 L_WC + lambda2 L_COS + lambda3 L_KD."""
    return terms["ce"] + lambdas[0] * terms["wc"] + lambdas[1] * terms["cos"] + lambdas[2] * terms["kd"]


def evaluate(model, inputs, image_features, labels, dtype):
    """Losses, per-term gradients and the total gradient, all computed in dtype."""
    c = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    x = c["label_vectors"].clone().requires_grad_(True)
    args = (model, c["token_rows"], c["eot"], c["label_start"], c["label_len"])
    terms = lamm_terms(*args, x, c["label_init"], image_features.to(dtype), labels,
                       c["logit_scale"], c["temperature"])
    lam = c["lambdas"]
    out = {f"loss_{t}": terms[t].detach() for t in TERMS}
    loss = total(terms, lam)
    out["loss_total"] = loss.detach()
    for t in TERMS:
        (out[f"grad_{t}"],) = torch.autograd.grad(terms[t], x, retain_graph=True)
    (out["grad_total"],) = torch.autograd.grad(loss, x)
    for k in ("logits_lamm", "logits_clip", "t_lamm", "t_clip"):
        out[k] = terms[k].detach()

    def loss_at(v):
        with torch.no_grad():
            return total(lamm_terms(*args, v, c["label_init"], image_features.to(dtype), labels,
                                    c["logit_scale"], c["temperature"]), lam)

    return out, loss_at


# ---------------------------------------------------------------------------
# Checks


def check_tower(model64, model32, ids, eot, gen):
    """The manual forward matches CLIPModel.get_text_features and is causal."""
    with torch.no_grad():
        hf = model32.get_text_features(input_ids=ids).pooler_output
        rows32 = model32.text_model.embeddings.token_embedding.weight[ids]
        d32 = (text_features(model32, rows32, eot) - hf).abs().max().item()
        rows64 = rows32.double()
        f64 = text_features(model64, rows64, eot)
        d64 = (f64 - hf.double()).abs().max().item()
        after = torch.arange(CONTEXT)[None] > eot[:, None]
        other = torch.where(after[..., None], torch.randn(rows64.shape, generator=gen, dtype=torch.float64),
                            rows64)
        dcausal = (text_features(model64, other, eot) - f64).abs().max().item()
    assert d32 < 1e-6 and d64 < 1e-5 and dcausal == 0.0, (d32, d64, dcausal)
    print(f"manual forward vs CLIPModel.get_text_features: max|diff| = {d32:.3e} (float32), "
          f"{d64:.3e} (float64 vs float32)")
    print(f"rows after EOT replaced by noise: features max|diff| = {dcausal:.3e}")
    return dict(forward_vs_get_text_features_f32=d32, forward_f64_vs_get_text_features=d64,
                rows_after_eot_feature_diff=dcausal)


def check_case(label, res64, res32, loss_at, x64, labels, lambdas, single):
    """Per-term consistency, float32 spread and central finite differences in float64."""
    figures = {}
    recomposed = (res64["grad_ce"] + lambdas[0] * res64["grad_wc"] + lambdas[1] * res64["grad_cos"]
                  + lambdas[2] * res64["grad_kd"])
    figures["grad_terms_recomposed_diff"] = (recomposed - res64["grad_total"]).abs().max().item()
    assert figures["grad_terms_recomposed_diff"] < 1e-12
    # L_WC has the closed-form gradient 2 (v - init); the official distillation is a soft-target
    # cross-entropy of logits_CLIP / T against softmax(logits_LAMM / T), checked as such.
    figures["grad_wc_closed_form_diff"] = (res64["grad_wc"] - 2 * (x64 - res64["init"])).abs().max().item()
    assert figures["grad_wc_closed_form_diff"] < 1e-12
    kd_soft = TEMPERATURE ** 2 * F.cross_entropy(res64["logits_clip"] / TEMPERATURE,
                                                  F.softmax(res64["logits_lamm"] / TEMPERATURE, -1))
    figures["kd_soft_target_diff"] = abs(kd_soft.item() - res64["loss_kd"].item())
    assert figures["kd_soft_target_diff"] < 1e-12
    if single:
        assert labels.unique().numel() == 1
        assert res64["loss_cos"].item() == 0.0 and res64["grad_cos"].abs().max().item() == 0.0
    else:
        assert labels.unique().numel() > 1 and res64["loss_cos"].item() > 0
    for t in TERMS:
        if not (single and t == "cos"):
            assert res64[f"grad_{t}"].abs().max().item() > 0, t

    figures["f32_loss_total_diff"] = abs(res32["loss_total"].item() - res64["loss_total"].item())
    scale = res64["grad_total"].abs().max().item()
    figures["f32_grad_total_max_abs_diff"] = (res32["grad_total"].double() - res64["grad_total"]).abs().max().item()
    figures["grad_total_max_abs"] = scale

    # Central differences on a few entries (each class's first and last label row).
    eps = 1e-6
    worst = 0.0
    rows = []
    r = 0
    for m in res64["label_len"].tolist():
        rows += sorted({r, r + m - 1})
        r += m
    gen = torch.Generator().manual_seed(5)
    for row in rows:
        for col in torch.randint(0, x64.shape[1], (2,), generator=gen).tolist():
            plus, minus = x64.clone(), x64.clone()
            plus[row, col] += eps
            minus[row, col] -= eps
            fd = (loss_at(plus) - loss_at(minus)).item() / (2 * eps)
            an = res64["grad_total"][row, col].item()
            err = abs(fd - an) / max(abs(an), 1e-3)
            worst = max(worst, err)
    figures["finite_difference_entries"] = 2 * len(rows)
    figures["finite_difference_worst_rel_err"] = worst
    assert worst < 1e-6, worst

    print(f"[{label}] labels {labels.tolist()}")
    print(f"[{label}] L_CE = {res64['loss_ce'].item():.9f}  L_WC = {res64['loss_wc'].item():.9f}  "
          f"L_COS = {res64['loss_cos'].item():.9e}  L_KD = {res64['loss_kd'].item():.9f}  "
          f"L = {res64['loss_total'].item():.9f}")
    print(f"[{label}] max|grad_total| = {scale:.4e}; per-term max|grad|: " + ", ".join(
        f"{t} {res64[f'grad_{t}'].abs().max().item():.3e}" for t in TERMS))
    print(f"[{label}] sum of weighted term gradients vs grad_total: {figures['grad_terms_recomposed_diff']:.3e}; "
          f"grad_wc vs 2(v - init): {figures['grad_wc_closed_form_diff']:.3e}; "
          f"L_KD vs soft-target cross-entropy: {figures['kd_soft_target_diff']:.3e}")
    print(f"[{label}] float32 vs float64: |L| diff {figures['f32_loss_total_diff']:.3e}, "
          f"max|grad_total| diff {figures['f32_grad_total_max_abs_diff']:.3e}")
    print(f"[{label}] central differences (float64, eps {eps}) on {figures['finite_difference_entries']} "
          f"entries: worst relative error {worst:.3e}")
    return figures


# ---------------------------------------------------------------------------


def fake_image_features(model, token_rows, eot, labels, gen):
    """IMAGE_SCALE * (unit CLIP text feature of the class + N(0, IMAGE_NOISE)): near their class,
    so that the predicted probability of the true class is spread over (0, 1) rather than saturated
    at tau = 100, and not normalised, so that the loss's own normalisation matters."""
    with torch.no_grad():
        t = F.normalize(text_features(model, token_rows, eot), dim=-1)
    noise = torch.randn((labels.shape[0], t.shape[1]), generator=gen)
    return IMAGE_SCALE * (t[labels] + IMAGE_NOISE * noise)


def f32(t):
    return t.detach().to(torch.float32).reshape(t.shape if t.dim() else (1,)).contiguous()


def i32(t):
    return t.to(torch.int32).contiguous()


def setup(description, fixture):
    """Parses --clip/--out (defaults: clip-tiny and Tests/Fixtures/<fixture>), seeds torch, and
    loads the tokenizer and the frozen model in float32 and float64."""
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clip", default=os.path.join(here, "..", "Tests", "Fixtures", "clip-tiny"))
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "Fixtures", fixture))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.disable_progress_bar()

    tok = CLIPTokenizer.from_pretrained(args.clip)
    model32 = CLIPModel.from_pretrained(args.clip, dtype=torch.float32, attn_implementation="eager").eval()
    model64 = copy.deepcopy(model32).double()
    for p in list(model32.parameters()) + list(model64.parameters()):
        p.requires_grad_(False)
    return args, tok, model32, model64


def main():
    args, tok, model32, model64 = setup(__doc__.split("\n")[0], "lamm-loss")

    ids, eot, start, length = build_prompts(tok)
    for k, name in enumerate(CLASSES):
        print(f"  {name!r}: {ids[k, : int(eot[k]) + 1].tolist()} label rows "
              f"{int(start[k])}..{int(start[k]) + int(length[k]) - 1}")
    gen = torch.Generator().manual_seed(2024)
    figures = check_tower(model64, model32, ids, eot, gen)

    emb = model32.text_model.embeddings.token_embedding.weight
    label_init = torch.cat([emb[ids[k, int(start[k]): int(start[k]) + int(length[k])]]
                            for k in range(len(CLASSES))]).clone()
    label_vectors = label_init + LABEL_NOISE * torch.randn(label_init.shape, generator=gen)
    labels = torch.randint(0, len(CLASSES), (BATCH,), generator=gen)
    assert labels.unique().numel() >= 2
    single_labels = torch.zeros(BATCH, dtype=torch.int64)  # "dog", close to "cat": L_CE is not saturated
    image_features = fake_image_features(model32, emb[ids], eot, labels, gen)
    single_image_features = fake_image_features(model32, emb[ids], eot, single_labels, gen)

    inputs = {
        "token_rows": emb[ids].clone(), "eot": eot, "label_start": start, "label_len": length,
        "label_vectors": label_vectors, "label_init": label_init,
        "logit_scale": model32.logit_scale.detach().reshape(()).clone(),
        "lambdas": torch.tensor(LAMBDAS, dtype=torch.float32),
        "temperature": torch.tensor(TEMPERATURE, dtype=torch.float32),
    }
    # The float64 arithmetic starts from the F32 values the file stores.
    lambdas64 = inputs["lambdas"].double()
    x64 = label_vectors.double()

    tensors = {
        "prompt_ids": i32(ids), "eot": i32(eot), "label_start": i32(start), "label_len": i32(length),
        "label_init": f32(label_init), "label_vectors": f32(label_vectors),
        "image_features": f32(image_features), "labels": i32(labels),
        "logit_scale": f32(inputs["logit_scale"]), "shots": torch.tensor([SHOTS], dtype=torch.int32),
        "lambdas": f32(inputs["lambdas"]), "temperature": f32(inputs["temperature"]),
    }
    cases = {}
    for prefix, img, lab, single in (("", image_features, labels, False),
                                     ("single.", single_image_features, single_labels, True)):
        res64, loss_at = evaluate(model64, inputs, img, lab, torch.float64)
        res32, _ = evaluate(model32, inputs, img, lab, torch.float32)
        res64.update(init=label_init.double(), label_len=length)
        label = "mixed batch" if not single else "single-class batch"
        cases[label] = check_case(label, res64, res32, loss_at, x64, lab, lambdas64, single)
        if single:
            tensors.update({"single.labels": i32(lab), "single.image_features": f32(img)})
        else:
            tensors.update({"text_features_lamm": f32(res64["t_lamm"]),
                            "text_features_clip": f32(res64["t_clip"])})
        p = F.softmax(res64["logits_lamm"], -1)
        print(f"[{label}] softmax of the true class: "
              + " ".join(f"{v:.3f}" for v in p[torch.arange(BATCH), lab].tolist()))
        for k in ("logits_lamm", "logits_clip"):
            tensors[prefix + k] = f32(res64[k])
        for t in TERMS + ("total",):
            tensors[f"{prefix}loss_{t}"] = f32(res64[f"loss_{t}"])
            tensors[f"{prefix}grad_{t}"] = f32(res64[f"grad_{t}"])
            tensors[f"{prefix}f32.loss_{t}"] = f32(res32[f"loss_{t}"])
            tensors[f"{prefix}f32.grad_{t}"] = f32(res32[f"grad_{t}"])

    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))
    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": safetensors.__version__, "numpy": np.__version__},
        "model": "Tests/Fixtures/clip-tiny",
        "template": f"{TEMPLATE} <class>.",
        "class_names": CLASSES,
        "prompts": [f"{TEMPLATE} {c}." for c in CLASSES],
        "batch_size": BATCH,
        "shots": SHOTS,
        "lambdas": list(LAMBDAS),
        "temperature": TEMPERATURE,
        "logit_scale": math.log(100.0),
        "label_noise_std": LABEL_NOISE,
        "image_features": f"{IMAGE_SCALE} * (normalised CLIP text feature of the class + N(0, {IMAGE_NOISE}))",
        "precision": "stored losses, gradients, logits and features computed in float64 from the F32 "
                     "inputs and rounded to F32; the f32.* tensors are the same computation in float32",
        "checks": dict(figures, **cases),
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(args.out, "reference.safetensors"))
    print(f"{args.out}: {len(tensors)} tensors, reference.safetensors {size} bytes")


if __name__ == "__main__":
    main()
