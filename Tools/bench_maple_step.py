#!/usr/bin/env python3
"""PyTorch reference timing of one MaPLe training step, for `lamm-bench maple-step`.

    python Tools/bench_maple_step.py --model DIR --inputs FILE.safetensors --out OUT.safetensors
                                     [--repeats 5] [--threads 2]

DIR is the Hugging Face CLIPModel directory the Swift benchmark wrote (config.json with
text_config, vision_config and projection_dim; model.safetensors with both towers and
logit_scale), loaded into transformers' CLIPModel (SDPA attention), in float32, eval mode, every
weight frozen.

FILE holds the step's inputs (K classes, B images, n context vectors, J prompt depth, Wt / Wv the
text / image widths):
    prompt_ids I32 [K, 77]   CLIP's ids of `a photo of a <class>.`, padded with EOT
    eot        I32 [K]       EOT position of each prompt
    pixels     F32 [B, 3, S, S] (normalised), labels I32 [B] in [0, K)
    ctx        F32 [n, Wt],  proj.weight F32 [Wv, Wt], proj.bias F32 [Wv]
    deep_text.{i} F32 [n, Wt], deep_proj.{i}.weight F32 [Wv, Wt], deep_proj.{i}.bias F32 [Wv]
                             for i = 0 ... J-2

The step is MaPLe's (Tools/make_maple_fixture.py, method maple, mirrored here; Swift's
MaPLeTrainer.objective), done the way a PyTorch user would, batched over the prompts and the
images:
  text   token embeddings of prompt_ids with rows 1..n replaced by ctx (the words `a photo`),
         + positions, transformers' encoder layers with the additive causal mask passed as
         attention_mask, entering block l = 1..J-1 rows 1..n replaced by deep_text.{l-1}, final
         LayerNorm, the EOT row, text_projection;
  image  patch conv, class token, + positions, then the n prompt tokens proj(ctx) appended (no
         position embedding), pre-LayerNorm, the encoder layers (no mask), entering block
         l = 1..J-1 the last n tokens replaced by deep_proj.{l-1}(deep_text.{l-1}); post-LayerNorm
         of the class token, visual_projection;
  loss   cross-entropy(exp(logit_scale) * normalize(img) @ normalize(txt).T, labels), backward
         to ctx, deep_text, proj and deep_proj only.

Timing: one untimed warm-up step, then `repeats` timed full steps (forward + backward,
gradients reset to None between them); then the parts, each warmed up once and timed `repeats`
times: the text tower forward + backward for the K prompts alone (a fixed random upstream
gradient on the normalised text features), the prompted image tower's forward alone (building
the autograd graph, as a training forward does), and its forward + backward (a fixed random
upstream gradient on the normalised image features). The best of each is reported.

Writes OUT with `loss` F32 [1] and the gradients grad_ctx, grad_deep_text.{i}, grad_proj.weight,
grad_proj.bias, grad_deep_proj.{i}.weight, grad_deep_proj.{i}.bias (shaped as the inputs), and
prints one JSON line last on stdout:
    {"seconds", "median_seconds", "torch", "threads", "text_seconds", "vision_forward_seconds",
     "vision_step_seconds", ...}
Errors go to stderr with exit status 2.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# Loading


def load_model(directory):
    """transformers' CLIPModel with the directory's weights, F32, eval mode, frozen."""
    from safetensors import safe_open
    from transformers import CLIPConfig, CLIPModel

    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise BenchError(f"--model {directory}: {os.path.basename(path)} is missing; "
                             "give a Hugging Face CLIP directory (config.json + model.safetensors)")
    with open(config_path, encoding="utf-8") as f:
        raw = json.load(f)
    if "text_config" not in raw or "vision_config" not in raw:
        raise BenchError(f"{config_path}: not a CLIPModel configuration (text_config and vision_config)")
    drop = ("architectures", "model_type", "transformers_version", "dtype", "torch_dtype")
    text = {k: v for k, v in raw["text_config"].items() if k not in drop}
    vision = {k: v for k, v in raw["vision_config"].items() if k not in drop}
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=raw.get("projection_dim", 512),
                        logit_scale_init_value=raw.get("logit_scale_init_value", 2.6592))
    config._attn_implementation = "sdpa"
    model = CLIPModel(config)

    wanted = set(model.state_dict().keys())
    state = {}
    with safe_open(weights_path, framework="pt") as f:
        for key in f.keys():
            if key in wanted:
                state[key] = f.get_tensor(key).to(torch.float32)
    missing = sorted(k for k in wanted - state.keys() if not k.endswith("position_ids"))
    if missing:
        raise BenchError(f"{weights_path}: tensors missing: {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    model.load_state_dict(state, strict=False)
    model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_inputs(path, model):
    """The step's constant inputs and its trained tensors (leaves requiring grad)."""
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BenchError(f"--inputs {path}: no such file")
    t = load_file(path)
    for name in ("prompt_ids", "eot", "pixels", "labels", "ctx", "proj.weight", "proj.bias"):
        if name not in t:
            raise BenchError(f"--inputs {path}: tensor `{name}` is missing")
    depth = 1
    while f"deep_text.{depth - 1}" in t:
        depth += 1
    tc, vc = model.config.text_config, model.config.vision_config
    wt, wv = tc.hidden_size, vc.hidden_size
    ids, eot, pixels, labels, ctx = (t[k] for k in ("prompt_ids", "eot", "pixels", "labels", "ctx"))
    k, n, b = ids.shape[0], ctx.shape[0], pixels.shape[0]
    side = vc.image_size
    checks = [
        (ids.dim() == 2 and ids.shape[1] <= tc.max_position_embeddings, f"prompt_ids must be [K, <= {tc.max_position_embeddings}]"),
        (eot.shape == (k,) and bool(((eot >= 0) & (eot < ids.shape[1])).all()), "eot must be [K] positions in the prompts"),
        (pixels.shape == (b, vc.num_channels, side, side), f"pixels must be [B, {vc.num_channels}, {side}, {side}]"),
        (labels.shape == (b,) and bool(((labels >= 0) & (labels < k)).all()), f"labels must be [B] in [0, {k})"),
        (ctx.dim() == 2 and ctx.shape[1] == wt and 1 + n <= ids.shape[1], f"ctx must be [n, {wt}]"),
        (t["proj.weight"].shape == (wv, wt) and t["proj.bias"].shape == (wv,), f"proj must map {wt} -> {wv}"),
        (depth <= min(tc.num_hidden_layers, vc.num_hidden_layers), "more deep prompts than blocks"),
    ]
    for i in range(depth - 1):
        checks += [
            (t[f"deep_text.{i}"].shape == (n, wt), f"deep_text.{i} must be [n, {wt}]"),
            (t.get(f"deep_proj.{i}.weight", torch.empty(0)).shape == (wv, wt)
             and t.get(f"deep_proj.{i}.bias", torch.empty(0)).shape == (wv,), f"deep_proj.{i} must map {wt} -> {wv}"),
        ]
    for ok, message in checks:
        if not ok:
            raise BenchError(f"--inputs {path}: {message}")

    constants = dict(ids=ids.long(), eot=eot.long(), pixels=pixels.float().contiguous(), labels=labels.long())
    names = ["ctx"] + [f"deep_text.{i}" for i in range(depth - 1)] + ["proj.weight", "proj.bias"]
    names += [f"deep_proj.{i}.{p}" for i in range(depth - 1) for p in ("weight", "bias")]
    params = {name: t[name].float().clone().requires_grad_(True) for name in names}
    return constants, params, depth


# ---------------------------------------------------------------------------
# The step (Tools/make_maple_fixture.py's maple_rows, replace_text_rows, replace_image_rows,
# HFTowers.text / HFTowers.image and objective for method maple, on transformers' layers)


def causal_mask(n, dtype=torch.float32):
    """Additive mask [1, 1, n, n]: 0 on and below the diagonal, the dtype's most negative value above."""
    return torch.triu(torch.full((n, n), torch.finfo(dtype).min, dtype=dtype), diagonal=1)[None, None]


def replace_text_rows(h, deep):
    """Rows 1..n of every prompt become `deep` [n, W]."""
    n = deep.shape[0]
    return torch.cat([h[:, :1], deep[None].expand(h.shape[0], n, -1), h[:, 1 + n:]], dim=1)


def replace_image_rows(x, deep):
    """The last n tokens of every image become `deep` [n, W]."""
    n = deep.shape[0]
    return torch.cat([x[:, :-n], deep[None].expand(x.shape[0], n, -1)], dim=1)


class MaPLeStep:
    def __init__(self, model, constants, depth):
        self.model = model
        self.c = constants
        self.depth = depth
        self.mask = causal_mask(constants["ids"].shape[1])

    def deep_text(self, p):
        return [p[f"deep_text.{i}"] for i in range(self.depth - 1)]

    def text_features(self, p, normalize=True):
        """Text features [K, P] of every prompt under ctx and the deep text prompts."""
        tm = self.model.text_model
        ids, eot = self.c["ids"], self.c["eot"]
        deep = self.deep_text(p)
        h = replace_text_rows(tm.embeddings.token_embedding(ids), p["ctx"])
        h = h + tm.embeddings.position_embedding.weight[: ids.shape[1]][None]
        for l, layer in enumerate(tm.encoder.layers):
            if 1 <= l <= len(deep):
                h = replace_text_rows(h, deep[l - 1])
            h = layer(h, attention_mask=self.mask)
        h = tm.final_layer_norm(h)
        f = self.model.text_projection(h[torch.arange(h.shape[0]), eot])
        return F.normalize(f, dim=-1) if normalize else f

    def image_features(self, p, normalize=True):
        """Prompted image features [B, P]: the shallow prompts proj(ctx), the deep ones
        deep_proj.i(deep_text.i)."""
        vm = self.model.vision_model
        e = vm.embeddings
        pixels = self.c["pixels"]
        b = pixels.shape[0]
        shallow = F.linear(p["ctx"], p["proj.weight"], p["proj.bias"])
        deep = [F.linear(p[f"deep_text.{i}"], p[f"deep_proj.{i}.weight"], p[f"deep_proj.{i}.bias"])
                for i in range(self.depth - 1)]
        x = e.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(b, 1, -1), x], dim=1) + e.position_embedding.weight[None]
        x = torch.cat([x, shallow[None].expand(b, -1, -1)], dim=1)
        x = vm.pre_layrnorm(x)
        for l, layer in enumerate(vm.encoder.layers):
            if 1 <= l <= len(deep):
                x = replace_image_rows(x, deep[l - 1])
            x = layer(x, attention_mask=None)
        f = self.model.visual_projection(vm.post_layernorm(x[:, 0]))
        return F.normalize(f, dim=-1) if normalize else f

    def loss(self, p):
        txt = self.text_features(p)
        img = self.image_features(p)
        logits = self.model.logit_scale.exp() * img @ txt.T
        return F.cross_entropy(logits, self.c["labels"])


def zero_grads(params):
    for v in params.values():
        v.grad = None


def timed(fn, params, repeats, warm_up=True):
    """Seconds of each of `repeats` calls of fn, after one untimed call (gradients reset before each)."""
    times = []
    for r in range(repeats + (1 if warm_up else 0)):
        zero_grads(params)
        start = time.perf_counter()
        fn()
        if r > 0 or not warm_up:
            times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face CLIPModel directory")
    parser.add_argument("--inputs", required=True, help="safetensors file with the step's inputs")
    parser.add_argument("--out", required=True, help="safetensors file for the loss and the gradients")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        import transformers
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        model = load_model(args.model)
        constants, params, depth = load_inputs(args.inputs, model)
    except BenchError as e:
        print(f"bench_maple_step: {e}", file=sys.stderr)
        sys.exit(2)
    from safetensors.torch import save_file

    step = MaPLeStep(model, constants, depth)
    result = {}

    def full_step():
        loss = step.loss(params)
        loss.backward()
        result["loss"] = loss.detach()

    times = timed(full_step, params, args.repeats)
    out = {"loss": result["loss"].reshape(1).float().contiguous()}
    for name, v in params.items():
        out[f"grad_{name}"] = v.grad.detach().float().contiguous()

    # The same step as a PyTorch user speeds it up: torch.autocast("cpu", torch.bfloat16)
    # (oneDNN's bf16 kernels), the loss and its backward from fp32.
    def bf16_step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = step.loss(params)
        loss.float().backward()

    bf16_times = timed(bf16_step, params, args.repeats)

    # The parts, with fixed random upstream gradients on the normalised features.
    gen = torch.Generator().manual_seed(7)
    proj = model.config.projection_dim
    g_text = torch.randn((constants["ids"].shape[0], proj), generator=gen)
    g_image = torch.randn((constants["pixels"].shape[0], proj), generator=gen)
    text_times = timed(lambda: step.text_features(params).backward(g_text), params, args.repeats)
    held = {}

    def vision_forward():
        held["f"] = step.image_features(params)

    vision_forward_times = timed(vision_forward, params, args.repeats)
    held.clear()
    vision_step_times = timed(lambda: step.image_features(params).backward(g_image), params, args.repeats)
    zero_grads(params)

    save_file(out, args.out)
    print(json.dumps({
        "seconds": min(times), "median_seconds": statistics.median(times),
        "bf16_seconds": min(bf16_times), "bf16_median_seconds": statistics.median(bf16_times),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "text_seconds": min(text_times), "vision_forward_seconds": min(vision_forward_times),
        "vision_step_seconds": min(vision_step_times),
        "loss": out["loss"].item(), "classes": int(constants["ids"].shape[0]),
        "images": int(constants["pixels"].shape[0]), "prompt_depth": depth,
        "context_length": int(params["ctx"].shape[0]), "padded_length": int(constants["ids"].shape[1]),
        "attention": model.text_model.config._attn_implementation,
    }), flush=True)


if __name__ == "__main__":
    main()
