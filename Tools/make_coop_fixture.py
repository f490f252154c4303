"""Reference values of CoOp's and CoOp+LAMM's losses and their gradients with respect to the
context vectors (and, for CoOp+LAMM, the label vectors).

Run (from the repository root, after Tools/make_tiny_clip.py has written
Tests/Fixtures/clip-tiny; same Python environment):

    python Tools/make_coop_fixture.py [--clip Tests/Fixtures/clip-tiny] [--out Tests/Fixtures/coop-loss]

Everything is seeded, so re-running reproduces identical files. The script checks itself with
asserts and prints the figures it checked. It reuses the prompts, the manual text-tower forward,
the loss terms and the fake image features of Tools/make_lamm_loss_fixture.py, so both fixtures
define the terms the same way.

CoOp (LAMM.md, "Training setup": CoOp+LAMM) learns M = 4 context vectors `[V]_1 .. [V]_4` shared
by every class, initialised from the words of `a photo of a`. The prompt rows are the ones
PromptTemplate.prompt(context:label:) builds:
    [SOT] [V]_1 [V]_2 [V]_3 [V]_4 [class-name rows of i] encode(".") [EOT]
so the context rows take positions 1..4 (where `a photo of a` stands in CLIP's prompt) and the
class-name rows start at position 5. K = 4 classes ("dog", "cat", "golden retriever",
"hummingbird"), a batch of B = 8 samples of at least two classes.

Case `coop.`: the class-name rows are CLIP's word embeddings (frozen) and the loss is L_CE alone,
    logits[b, i] = tau * cos(I_b, psi(z_i)),   L_CE = mean_b -log softmax(logits[b])[label_b].
Case `coop_lamm.`: the class-name rows are the trainable label vectors as well, and the loss is
LAMM's hierarchical loss with the terms of make_lamm_loss_fixture.lamm_loss_terms,
    L = L_CE + (1/n) L_WC + 1 L_COS + 0.05 L_KD,   n = 4, T = 2,
where psi(z_i) reads the context and the label vectors, psi(y_i) is CLIP's original prompt
`a photo of a <class>.` (frozen, no gradient) and L_WC = sum (label_vectors - label_init)^2 covers
the label vectors only (the context has no word to stay near; Trainer.objective does the same).
tau = exp(logit_scale) = 100.

Precision: every stored loss and gradient is computed in float64 from the stored F32 inputs
(upcast) and rounded to F32 once at the end. The same computation in float32 is run too, and its
distance to the float64 result is recorded in reference.json ("checks"), to show the spread an
F32 implementation can expect.

reference.safetensors (K = 4, M = 4 context rows, R = sum label_len rows, W = 32 width,
P = 24 projection, B = 8)
    prompt_ids              I32 [K, 77]  SOT, encode("a photo of a"), encode(class), encode("."), EOT,
                                         then the EOT id up to 77 (transformers' padding): CLIP's prompts y_i
    eot                     I32 [K]      position of EOT in each prompt
    label_len               I32 [K]      number of class-name tokens (they start at position 5)
    context_init            F32 [M, W]   token-embedding rows of encode("a photo of a")
    context                 F32 [M, W]   context_init + N(0, 0.05): the current context
    label_init              F32 [R, W]   token-embedding rows of the class-name tokens, class by class
    label_vectors           F32 [R, W]   label_init + N(0, 0.05): the current label vectors (coop_lamm.)
    image_features          F32 [B, P]   3 * (psi(y_label) / |psi(y_label)| + N(0, 0.2)), not normalised
                                         (the loss normalises)
    labels                  I32 [B]      classes of the batch (at least two distinct)
    logit_scale             F32 [1]      ln(100) (the model's value)
    shots                   I32 [1]      n = 4
    lambdas                 F32 [3]      (1/n, 1, 0.05)
    temperature             F32 [1]      T = 2
    text_features_clip      F32 [K, P]   psi(y_i) / |psi(y_i)|
    coop.text_features      F32 [K, P]   psi(z_i) / |psi(z_i)| with the context and the word embeddings
    coop.logits             F32 [B, K]   tau * cos(I_b, psi(z_i))
    coop.loss               F32 [1]      L_CE
    coop.grad_context       F32 [M, W]   dL_CE / d context
    coop_lamm.text_features F32 [K, P]   psi(z_i) / |psi(z_i)| with the context and the label vectors
    coop_lamm.logits        F32 [B, K]   tau * cos(I_b, psi(z_i))
    coop_lamm.loss_ce, coop_lamm.loss_wc, coop_lamm.loss_cos, coop_lamm.loss_kd, coop_lamm.loss_total
                            F32 [1]      the unweighted terms and the weighted total
    coop_lamm.grad_context        F32 [M, W]   dL / d context
    coop_lamm.grad_label_vectors  F32 [R, W]   dL / d label_vectors
The Swift trainer's parameter matrix theta for CoOp+LAMM is the context rows followed by the label
rows, so its gradient is grad_context followed by grad_label_vectors.
reference.json holds the class names, the prompt layout, the settings, the figures checked and the
versions used.
"""

import json
import math
import os
import sys

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_lamm_loss_fixture as lamm  # noqa: E402  (the sibling script; its main() is not run)
from make_lamm_loss_fixture import (  # noqa: E402
    BATCH, CLASSES, CONTEXT, IMAGE_NOISE, IMAGE_SCALE, LABEL_NOISE, LAMBDAS, SHOTS, TEMPERATURE, TEMPLATE,
    build_prompts, f32, fake_image_features, i32, lamm_loss_terms, setup, splice, text_features, total)

CONTEXT_NOISE = 0.05
TERMS = lamm.TERMS


# ---------------------------------------------------------------------------
# Prompts


def coop_rows(token_rows, context):
    """Prompt rows [K, 77, W] with rows 1..M (the words of `a photo of a`) replaced by the context
    [M, W], shared by every class (PromptTemplate.prompt(context:label:))."""
    m = context.shape[0]
    k = token_rows.shape[0]
    return torch.cat([token_rows[:, :1], context[None].expand(k, m, -1), token_rows[:, 1 + m:]], dim=1)


def coop_features(model, token_rows, eot, start, length, context, label_vectors=None):
    """psi(z_i) / |psi(z_i)| [K, P]: the context in rows 1..M and, if given, the label vectors in
    each class's label rows."""
    rows = coop_rows(token_rows, context)
    if label_vectors is not None:
        rows = splice(rows, label_vectors, start, length)
    return F.normalize(text_features(model, rows, eot), dim=-1)


# ---------------------------------------------------------------------------
# Losses


def coop_loss(model, c, context, image_features, labels):
    """CoOp's objective, L_CE of lamm_loss_terms on the CoOp prompts with the class-name rows
    frozen (its L_WC there is over constants and not used)."""
    t_z = coop_features(model, c["token_rows"], c["eot"], c["label_start"], c["label_len"], context)
    terms = lamm_loss_terms(t_z, c["t_clip"], image_features, labels, c["label_init"], c["label_init"],
                            c["logit_scale"], c["temperature"])
    return terms["ce"], dict(t_z=t_z, logits=terms["logits_lamm"])


def coop_lamm_terms(model, c, context, label_vectors, image_features, labels):
    """The four terms of LAMM.md ("Losses") with psi(z_i) reading the context and the label
    vectors; L_WC covers the label vectors only."""
    t_z = coop_features(model, c["token_rows"], c["eot"], c["label_start"], c["label_len"], context, label_vectors)
    terms = lamm_loss_terms(t_z, c["t_clip"], image_features, labels, label_vectors, c["label_init"],
                            c["logit_scale"], c["temperature"])
    return dict(terms, t_z=t_z)


def cast(model, inputs, dtype):
    """The inputs in dtype (from their F32 values), with psi(y_i) computed in that dtype."""
    c = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    with torch.no_grad():
        c["t_clip"] = F.normalize(text_features(model, c["token_rows"], c["eot"]), dim=-1)
    return c


def evaluate(model, inputs, image_features, labels, dtype):
    """Both cases' losses and gradients in dtype, and the two total losses as functions of their
    parameters (for the finite differences)."""
    c = cast(model, inputs, dtype)
    img = image_features.to(dtype)
    out = {"t_clip": c["t_clip"]}

    ctx = c["context"].clone().requires_grad_(True)
    loss, extra = coop_loss(model, c, ctx, img, labels)
    (out["coop.grad_context"],) = torch.autograd.grad(loss, ctx)
    out["coop.loss"] = loss.detach()
    out["coop.text_features"] = extra["t_z"].detach()
    out["coop.logits"] = extra["logits"].detach()

    ctx = c["context"].clone().requires_grad_(True)
    lab = c["label_vectors"].clone().requires_grad_(True)
    terms = coop_lamm_terms(model, c, ctx, lab, img, labels)
    lam = c["lambdas"]
    loss = total(terms, lam)
    for t in TERMS:
        out[f"coop_lamm.loss_{t}"] = terms[t].detach()
        out[f"coop_lamm.grad_{t}"] = torch.autograd.grad(terms[t], (ctx, lab), retain_graph=True, allow_unused=True)
    out["coop_lamm.loss_total"] = loss.detach()
    out["coop_lamm.grad_context"], out["coop_lamm.grad_label_vectors"] = torch.autograd.grad(loss, (ctx, lab))
    out["coop_lamm.text_features"] = terms["t_z"].detach()
    out["coop_lamm.logits"] = terms["logits_lamm"].detach()
    out["coop_lamm.logits_clip"] = terms["logits_clip"].detach()

    def coop_at(context):
        with torch.no_grad():
            return coop_loss(model, c, context, img, labels)[0]

    def coop_lamm_at(context, label_vectors):
        with torch.no_grad():
            return total(coop_lamm_terms(model, c, context, label_vectors, img, labels), lam)

    return out, coop_at, coop_lamm_at, c


# ---------------------------------------------------------------------------
# Checks


def check_layout(model64, model32, ids, eot, start, length, context_init, label_init, gen):
    """With the context at its initialisation (and the label vectors at theirs) the CoOp prompts are
    CLIP's prompts; the features do not depend on rows after EOT."""
    with torch.no_grad():
        hf = model32.get_text_features(input_ids=ids).pooler_output
        rows32 = model32.text_model.embeddings.token_embedding.weight[ids]
        rows64 = rows32.double()
        ctx64, lab64 = context_init.double(), label_init.double()
        coop32 = coop_features(model32, rows32, eot, start, length, context_init)
        d32 = (coop32 - F.normalize(hf, dim=-1)).abs().max().item()
        coop64 = coop_features(model64, rows64, eot, start, length, ctx64)
        d64 = (coop64 - F.normalize(hf.double(), dim=-1)).abs().max().item()
        both64 = coop_features(model64, rows64, eot, start, length, ctx64, lab64)
        clip64 = F.normalize(text_features(model64, rows64, eot), dim=-1)
        rows_equal = bool(torch.equal(splice(coop_rows(rows64, ctx64), lab64, start, length), rows64))
        dexact = max((coop64 - clip64).abs().max().item(), (both64 - clip64).abs().max().item())

        # Causality: noise after EOT (the padding) and, on a perturbed context, the same again.
        ctx_moved = ctx64 + 0.05 * torch.randn(ctx64.shape, generator=gen, dtype=torch.float64)
        lab_moved = lab64 + 0.05 * torch.randn(lab64.shape, generator=gen, dtype=torch.float64)
        base = text_features(model64, splice(coop_rows(rows64, ctx_moved), lab_moved, start, length), eot)
        after = torch.arange(CONTEXT)[None] > eot[:, None]
        noisy = torch.where(after[..., None], torch.randn(rows64.shape, generator=gen, dtype=torch.float64), rows64)
        moved = text_features(model64, splice(coop_rows(noisy, ctx_moved), lab_moved, start, length), eot)
        dcausal = (moved - base).abs().max().item()
        # ... and the context does move the features (positions 1..4 are read).
        dcontext = (F.normalize(base, dim=-1) - clip64).abs().max().item()
    assert rows_equal and dexact == 0.0, (rows_equal, dexact)
    assert d32 < 1e-6 and d64 < 1e-5 and dcausal == 0.0 and dcontext > 1e-3, (d32, d64, dcausal, dcontext)
    print(f"context = context_init: CoOp prompt rows equal CLIP's rows: {rows_equal}; unit features vs "
          f"get_text_features: max|diff| {d32:.3e} (float32), {d64:.3e} (float64 vs float32); "
          f"vs CLIP's prompts in float64 {dexact:.3e}")
    print(f"rows after EOT replaced by noise (perturbed context and label vectors): features max|diff| {dcausal:.3e}; "
          f"perturbed vs initial unit features max|diff| {dcontext:.3e}")
    return dict(context_init_vs_get_text_features_f32=d32, context_init_f64_vs_get_text_features=d64,
                context_init_f64_vs_clip_prompts_f64=dexact, rows_after_eot_feature_diff=dcausal,
                perturbed_prompt_feature_change=dcontext)


def central_differences(loss_at, x, grad, rows, gen, eps=1e-6):
    """Worst relative error of dL/dx[row, col] against (L(x + eps) - L(x - eps)) / 2 eps, float64,
    two random columns per row."""
    worst, entries = 0.0, 0
    for row in rows:
        for col in torch.randint(0, x.shape[1], (2,), generator=gen).tolist():
            plus, minus = x.clone(), x.clone()
            plus[row, col] += eps
            minus[row, col] -= eps
            fd = (loss_at(plus) - loss_at(minus)).item() / (2 * eps)
            an = grad[row, col].item()
            worst = max(worst, abs(fd - an) / max(abs(an), 1e-3))
            entries += 1
    return worst, entries


def check_cases(res64, res32, coop_at, coop_lamm_at, c64, labels, length):
    figures = {}
    ctx, lab = c64["context"], c64["label_vectors"]
    lam = c64["lambdas"]

    # Per-term gradients recompose the total; L_WC reaches the label vectors only.
    g_ctx = sum(w * res64[f"coop_lamm.grad_{t}"][0] for w, t in zip((1.0, *lam.tolist()), TERMS)
                if res64[f"coop_lamm.grad_{t}"][0] is not None)
    g_lab = sum(w * res64[f"coop_lamm.grad_{t}"][1] for w, t in zip((1.0, *lam.tolist()), TERMS))
    figures["grad_terms_recomposed_diff"] = max((g_ctx - res64["coop_lamm.grad_context"]).abs().max().item(),
                                                (g_lab - res64["coop_lamm.grad_label_vectors"]).abs().max().item())
    assert figures["grad_terms_recomposed_diff"] < 1e-12
    assert res64["coop_lamm.grad_wc"][0] is None, "L_WC must not reach the context"
    figures["grad_wc_closed_form_diff"] = (res64["coop_lamm.grad_wc"][1] - 2 * (lab - c64["label_init"])).abs().max().item()
    assert figures["grad_wc_closed_form_diff"] < 1e-12
    assert labels.unique().numel() > 1 and res64["coop_lamm.loss_cos"].item() > 0
    for t in ("ce", "cos", "kd"):
        for g in res64[f"coop_lamm.grad_{t}"]:
            assert g.abs().max().item() > 0, t
    # L_CE of both cases is an independent cross-entropy of the stored logits.
    for name, key in (("coop.loss", "coop.logits"), ("coop_lamm.loss_ce", "coop_lamm.logits")):
        assert abs(F.cross_entropy(res64[key], labels).item() - res64[name].item()) < 1e-12

    for name in ("coop.loss", "coop_lamm.loss_total"):
        figures[f"f32_{name}_diff"] = abs(res32[name].item() - res64[name].item())
    for name in ("coop.grad_context", "coop_lamm.grad_context", "coop_lamm.grad_label_vectors"):
        figures[f"{name}_max_abs"] = res64[name].abs().max().item()
        figures[f"f32_{name}_max_abs_diff"] = (res32[name].double() - res64[name]).abs().max().item()

    # Central differences: every context row; each class's first and last label row.
    gen = torch.Generator().manual_seed(7)
    label_rows, r = [], 0
    for m in length.tolist():
        label_rows += sorted({r, r + m - 1})
        r += m
    ctx_rows = list(range(ctx.shape[0]))
    fd = {
        "coop.grad_context": central_differences(coop_at, ctx, res64["coop.grad_context"], ctx_rows, gen),
        "coop_lamm.grad_context": central_differences(lambda v: coop_lamm_at(v, lab), ctx,
                                                      res64["coop_lamm.grad_context"], ctx_rows, gen),
        "coop_lamm.grad_label_vectors": central_differences(lambda v: coop_lamm_at(ctx, v), lab,
                                                            res64["coop_lamm.grad_label_vectors"], label_rows, gen),
    }
    for name, (worst, entries) in fd.items():
        figures[f"finite_difference_{name}"] = dict(entries=entries, worst_rel_err=worst)
        assert worst < 1e-6, (name, worst)

    print(f"labels {labels.tolist()}")
    print(f"[coop] L_CE = {res64['coop.loss'].item():.9f}  max|grad_context| = {figures['coop.grad_context_max_abs']:.4e}")
    print(f"[coop_lamm] L_CE = {res64['coop_lamm.loss_ce'].item():.9f}  L_WC = {res64['coop_lamm.loss_wc'].item():.9f}  "
          f"L_COS = {res64['coop_lamm.loss_cos'].item():.9e}  L_KD = {res64['coop_lamm.loss_kd'].item():.9f}  "
          f"L = {res64['coop_lamm.loss_total'].item():.9f}")
    print(f"[coop_lamm] max|grad_context| = {figures['coop_lamm.grad_context_max_abs']:.4e}, "
          f"max|grad_label_vectors| = {figures['coop_lamm.grad_label_vectors_max_abs']:.4e}")
    print(f"[coop_lamm] sum of weighted term gradients vs total: {figures['grad_terms_recomposed_diff']:.3e}; "
          f"grad_wc vs 2(v - init): {figures['grad_wc_closed_form_diff']:.3e}; L_WC reaches the context: no")
    print("float32 vs float64: " + ", ".join(
        f"{k[4:]} {v:.3e}" for k, v in figures.items() if k.startswith("f32_")))
    for name, (worst, entries) in fd.items():
        print(f"central differences (float64, eps 1e-6) {name}: {entries} entries, worst relative error {worst:.3e}")
    for case in ("coop", "coop_lamm"):
        p = F.softmax(res64[f"{case}.logits"], -1)
        print(f"[{case}] softmax of the true class: "
              + " ".join(f"{v:.3f}" for v in p[torch.arange(BATCH), labels].tolist()))
    return figures


# ---------------------------------------------------------------------------


def main():
    args, tok, model32, model64 = setup(__doc__.split("\n")[0], "coop-loss")

    ids, eot, start, length = build_prompts(tok)
    prefix = tok.encode(TEMPLATE, add_special_tokens=False)
    # The context replaces exactly the template words, and the label rows follow it.
    assert len(prefix) == 4 and (start == 1 + len(prefix)).all()
    for k, name in enumerate(CLASSES):
        print(f"  {name!r}: {ids[k, : int(eot[k]) + 1].tolist()} context rows 1..4, label rows "
              f"{int(start[k])}..{int(start[k]) + int(length[k]) - 1}, EOT {int(eot[k])}")

    emb = model32.text_model.embeddings.token_embedding.weight
    context_init = emb[torch.tensor(prefix)].clone()
    label_init = torch.cat([emb[ids[k, int(start[k]): int(start[k]) + int(length[k])]]
                            for k in range(len(CLASSES))]).clone()
    gen = torch.Generator().manual_seed(2025)
    figures = check_layout(model64, model32, ids, eot, start, length, context_init, label_init, gen)

    context = context_init + CONTEXT_NOISE * torch.randn(context_init.shape, generator=gen)
    label_vectors = label_init + LABEL_NOISE * torch.randn(label_init.shape, generator=gen)
    labels = torch.randint(0, len(CLASSES), (BATCH,), generator=gen)
    assert labels.unique().numel() >= 2
    image_features = fake_image_features(model32, emb[ids], eot, labels, gen)

    inputs = {
        "token_rows": emb[ids].clone(), "eot": eot, "label_start": start, "label_len": length,
        "context": context, "label_vectors": label_vectors, "label_init": label_init,
        "logit_scale": model32.logit_scale.detach().reshape(()).clone(),
        "lambdas": torch.tensor(LAMBDAS, dtype=torch.float32),
        "temperature": torch.tensor(TEMPERATURE, dtype=torch.float32),
    }
    res64, coop_at, coop_lamm_at, c64 = evaluate(model64, inputs, image_features, labels, torch.float64)
    res32, _, _, _ = evaluate(model32, inputs, image_features, labels, torch.float32)
    figures.update(check_cases(res64, res32, coop_at, coop_lamm_at, c64, labels, length))

    tensors = {
        "prompt_ids": i32(ids), "eot": i32(eot), "label_len": i32(length),
        "context_init": f32(context_init), "context": f32(context),
        "label_init": f32(label_init), "label_vectors": f32(label_vectors),
        "image_features": f32(image_features), "labels": i32(labels),
        "logit_scale": f32(inputs["logit_scale"]), "shots": torch.tensor([SHOTS], dtype=torch.int32),
        "lambdas": f32(inputs["lambdas"]), "temperature": f32(inputs["temperature"]),
        "text_features_clip": f32(res64["t_clip"]),
    }
    for name in ("coop.text_features", "coop.logits", "coop.loss", "coop.grad_context",
                 "coop_lamm.text_features", "coop_lamm.logits", "coop_lamm.grad_context",
                 "coop_lamm.grad_label_vectors") + tuple(f"coop_lamm.loss_{t}" for t in TERMS + ("total",)):
        tensors[name] = f32(res64[name])

    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))
    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": safetensors.__version__, "numpy": np.__version__},
        "model": "Tests/Fixtures/clip-tiny",
        "template": f"{TEMPLATE} <class>.",
        "prompt_layout": "[SOT] [V]_1 [V]_2 [V]_3 [V]_4 [class-name rows] encode('.') [EOT]: context rows at "
                         "positions 1..4, class-name rows from position 5",
        "class_names": CLASSES,
        "prompts": [f"{TEMPLATE} {c}." for c in CLASSES],
        "batch_size": BATCH,
        "context_length": len(prefix),
        "shots": SHOTS,
        "lambdas": list(LAMBDAS),
        "temperature": TEMPERATURE,
        "logit_scale": math.log(100.0),
        "context_noise_std": CONTEXT_NOISE,
        "label_noise_std": LABEL_NOISE,
        "image_features": f"{IMAGE_SCALE} * (normalised CLIP text feature of the class + N(0, {IMAGE_NOISE}))",
        "cases": {
            "coop.": "class-name rows frozen (word embeddings); loss L_CE",
            "coop_lamm.": "context and label vectors trained; loss L_CE + (1/n) L_WC + L_COS + 0.05 L_KD, "
                          "L_WC over the label vectors only",
        },
        "precision": "stored losses, gradients, logits and features computed in float64 from the F32 "
                     "inputs and rounded to F32; checks.f32_* give the float32 computation's distance",
        "checks": figures,
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(args.out, "reference.safetensors"))
    print(f"{args.out}: {len(tensors)} tensors, reference.safetensors {size} bytes")


if __name__ == "__main__":
    main()
