"""PyTorch reference timing of LAMM training epochs, for the Swift benchmark to compare with.

    python Tools/bench_lamm_epoch.py --model DIR --data FILE.safetensors [--threads 2] [--epochs 1]
                                     [--recompute-frozen]

DIR is a Hugging Face CLIP directory: config.json + model.safetensors. Only the text tower is
loaded (tensors `text_model.*` and `text_projection.weight`), so vision tensors may be absent;
config.json may be a CLIPModel configuration (text_config + projection_dim) or a
CLIPTextModelWithProjection one. Weights stored as F16/BF16 are upcast to F32.

FILE holds (K classes, R = sum label_len label rows, W text width, P projection, N samples):
    prompt_ids I32 [K, 77], eot I32 [K], label_start I32 [K], label_len I32 [K],
    label_init F32 [R, W], image_features F32 [N, P] (not normalised), labels I32 [N] in [0, K),
    logit_scale F32, shots I32, lambdas F32 [3], temperature F32, batch_size I32, lr F32,
    momentum F32, weight_decay F32, seed I32          (scalars as [] or [1])

Training is what a PyTorch user of the official code does (docs/LAMM.md, "Training
setup"), in float32 on the CPU with torch.set_num_threads(threads): the label vectors start at
label_init and are the only parameters; every step splices them into the full 77-position
token-embedding rows of all K prompts, runs the frozen text tower forward and backward, takes
the LAMM loss of Tools/make_lamm_loss_fixture.py (L_CE + lambda1 L_WC + lambda2 L_COS +
lambda3 L_KD) on a shuffled batch of batch_size samples, and makes one SGD step (lr, momentum,
weight_decay; no schedule). Batches follow Dassl's training loader: a fresh permutation each
epoch, the last incomplete batch dropped. The frozen CLIP text features psi(y) are computed once
before the clock starts (--recompute-frozen recomputes them every step, as the official code's
forward does).

Prints exactly one JSON line on stdout:
    {"seconds": ..., "steps": ..., "samples": ..., "final_loss": ..., "threads": ..., "torch": ...}
seconds covers the epochs only (no model loading, no one-off frozen features). Errors go to
stderr with exit status 2.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lamm_loss_fixture import causal_mask, lamm_loss_terms, total  # noqa: E402

REQUIRED = {
    "prompt_ids": 2, "eot": 1, "label_start": 1, "label_len": 1, "label_init": 2,
    "image_features": 2, "labels": 1,
}
SCALARS = ("logit_scale", "shots", "lambdas", "temperature", "batch_size", "lr", "momentum",
           "weight_decay", "seed")


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# Loading


def load_text_model(directory):
    """CLIPTextModelWithProjection with the directory's text weights, F32, frozen."""
    from safetensors import safe_open
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise BenchError(f"--model {directory}: {os.path.basename(path)} is missing; "
                             "give a Hugging Face CLIP directory (config.json + model.safetensors)")
    with open(config_path, encoding="utf-8") as f:
        raw = json.load(f)
    if "text_config" in raw:
        text = dict(raw["text_config"])
        text["projection_dim"] = raw.get("projection_dim", text.get("projection_dim", 512))
    elif raw.get("model_type") == "clip_text_model":
        text = dict(raw)
    else:
        raise BenchError(f"{config_path}: neither a CLIP configuration (text_config) "
                         "nor a clip_text_model one")
    for key in ("architectures", "model_type", "transformers_version", "dtype", "torch_dtype"):
        text.pop(key, None)
    config = CLIPTextConfig(**text)
    config._attn_implementation = "sdpa"
    model = CLIPTextModelWithProjection(config)

    wanted = set(model.state_dict().keys())
    state = {}
    with safe_open(weights_path, framework="pt") as f:
        for key in f.keys():
            if key in wanted:
                state[key] = f.get_tensor(key).to(torch.float32)
    missing = sorted(wanted - state.keys() - {"text_model.embeddings.position_ids"})
    if missing:
        raise BenchError(f"{weights_path}: text tensors missing: {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    model.load_state_dict(state, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_data(path, width, proj, context):
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BenchError(f"--data {path}: no such file")
    t = load_file(path)
    for name in list(REQUIRED) + list(SCALARS):
        if name not in t:
            raise BenchError(f"--data {path}: tensor `{name}` is missing")
    for name, rank in REQUIRED.items():
        if t[name].dim() != rank:
            raise BenchError(f"--data {path}: `{name}` has shape {list(t[name].shape)}, expected rank {rank}")
    d = {name: t[name] for name in REQUIRED}
    for name in SCALARS:
        v = t[name].reshape(-1)
        d[name] = v if name == "lambdas" else v[0]
    k = d["prompt_ids"].shape[0]
    rows = int(d["label_len"].sum())
    checks = [
        (d["prompt_ids"].shape[1] == context, f"prompt_ids must be [K, {context}]"),
        (all(d[n].shape == (k,) for n in ("eot", "label_start", "label_len")),
         "eot, label_start and label_len must be [K]"),
        (d["label_init"].shape == (rows, width), f"label_init must be [sum label_len = {rows}, {width}]"),
        (d["image_features"].dim() == 2 and d["image_features"].shape[1] == proj,
         f"image_features must be [N, {proj}]"),
        (d["labels"].shape == (d["image_features"].shape[0],), "labels must be [N]"),
        (bool(((d["labels"] >= 0) & (d["labels"] < k)).all()), f"labels must lie in [0, {k})"),
        (bool((d["label_start"] + d["label_len"] <= d["eot"]).all()), "label rows must lie before eot"),
        (d["lambdas"].numel() == 3, "lambdas must have 3 values"),
        (0 < int(d["batch_size"]) <= d["labels"].shape[0], "batch_size must lie in [1, N]"),
    ]
    for ok, message in checks:
        if not ok:
            raise BenchError(f"--data {path}: {message}")
    return d


# ---------------------------------------------------------------------------
# Training


def text_features(model, inputs_embeds, eot, mask):
    """Unit text features from token-embedding rows [K, 77, W] (+ positions, causal layers with
    the mask passed as attention_mask, final LayerNorm, row eot, projection)."""
    tm = model.text_model
    h = inputs_embeds + tm.embeddings.position_embedding.weight[: inputs_embeds.shape[1]][None]
    for layer in tm.encoder.layers:
        h = layer(h, attention_mask=mask)
    h = tm.final_layer_norm(h)
    return F.normalize(model.text_projection(h[torch.arange(h.shape[0]), eot]), dim=-1)


def train(model, d, epochs, recompute_frozen):
    emb = model.text_model.embeddings.token_embedding.weight
    ids = d["prompt_ids"].long()
    eot = d["eot"].long()
    token_rows = emb[ids].detach()  # [K, 77, W], frozen
    # (prompt, position) of every label row, class by class, in label_init's row order.
    rows_k = torch.repeat_interleave(torch.arange(ids.shape[0]), d["label_len"].long())
    offsets = torch.cumsum(d["label_len"].long(), 0) - d["label_len"].long()
    rows_p = d["label_start"].long()[rows_k] + torch.arange(rows_k.shape[0]) - offsets[rows_k]
    mask = causal_mask(ids.shape[1], torch.float32)[None, None]

    label_init = d["label_init"].float()
    label_vectors = torch.nn.Parameter(label_init.clone())
    opt = torch.optim.SGD([label_vectors], lr=float(d["lr"]), momentum=float(d["momentum"]),
                          weight_decay=float(d["weight_decay"]))
    lambdas = d["lambdas"].float()
    logit_scale = d["logit_scale"].float()
    temperature = d["temperature"].float()
    images = d["image_features"].float()
    labels = d["labels"].long()
    n, batch = labels.shape[0], int(d["batch_size"])
    gen = torch.Generator().manual_seed(int(d["seed"]))

    def frozen():
        with torch.no_grad():
            return text_features(model, token_rows, eot, mask)

    t_clip = frozen()
    steps, loss_value = 0, float("nan")
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for b in range(n // batch):
            index = order[b * batch: (b + 1) * batch]
            if recompute_frozen:
                t_clip = frozen()
            prompts = token_rows.index_put((rows_k, rows_p), label_vectors)
            t_lamm = text_features(model, prompts, eot, mask)
            terms = lamm_loss_terms(t_lamm, t_clip, images[index], labels[index], label_vectors,
                                    label_init, logit_scale, temperature)
            loss = total(terms, lambdas)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_value = loss.item()
            steps += 1
    seconds = time.perf_counter() - start
    return seconds, steps, steps * batch, loss_value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face CLIP directory")
    parser.add_argument("--data", required=True, help="safetensors file with the training inputs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--recompute-frozen", action="store_true",
                        help="recompute the frozen CLIP text features every step (official code)")
    args = parser.parse_args()
    if args.threads < 1 or args.epochs < 1:
        parser.error("--threads and --epochs must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        import transformers
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        model = load_text_model(args.model)
        cfg = model.config
        d = load_data(args.data, cfg.hidden_size, cfg.projection_dim, cfg.max_position_embeddings)
    except BenchError as e:
        print(f"bench_lamm_epoch: {e}", file=sys.stderr)
        sys.exit(2)
    seconds, steps, samples, final_loss = train(model, d, args.epochs, args.recompute_frozen)
    print(json.dumps({"seconds": seconds, "steps": steps, "samples": samples, "final_loss": final_loss,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
