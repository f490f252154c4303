#!/usr/bin/env python3
"""PyTorch reference timings for `lamm-bench text-tower`.

Reads the random ViT-B/16-sized text tower that the Swift benchmark wrote (a Hugging Face
directory: config.json + model.safetensors) and its prompts (prompts.safetensors), and does
the same work the way a PyTorch user would, with 2 threads:

  encode   transformers' CLIPTextModelWithProjection on token ids padded to 77 positions
           (CLIPTokenizer's padding="max_length"), in batches, under torch.no_grad();
  train    one training step of LAMM's label rows: token embeddings with the label rows
           replaced by a leaf tensor, + positions, the encoder layers with the causal mask,
           final LayerNorm, the EOT row, the projection; loss = sum_p normalize(f_p) . w_p;
           autograd backward to the label rows (the tower's weights are frozen);
  train, batched as a PyTorch user would batch it: the same step on the prompts truncated
           to the longest prompt (exact under the causal mask), in fp32 and under
           torch.autocast("cpu", torch.bfloat16) (oneDNN's bf16 kernels; the loss in fp32).

Writes the outputs (features and gradient) to --out for the Swift side to compare, and prints
one JSON line of timings (seconds, the best of the repeats, as the Swift side reports).
"""
import argparse
import json
import resource
import statistics
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModelWithProjection


def load_model(directory):
    with open(f"{directory}/config.json") as f:
        config = json.load(f)
    text = CLIPTextConfig(**config["text_config"], projection_dim=config["projection_dim"])
    model = CLIPTextModelWithProjection(text)
    state = load_file(f"{directory}/model.safetensors")
    state = {k: v for k, v in state.items() if k.startswith("text_model.") or k == "text_projection.weight"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def causal_mask(n):
    m = torch.full((n, n), torch.finfo(torch.float32).min)
    return torch.triu(m, diagonal=1)[None, None]


def spliced_features(model, inputs_embeds, eot):
    tm = model.text_model
    n = inputs_embeds.shape[1]
    h = inputs_embeds + tm.embeddings.position_embedding.weight[:n][None]
    mask = causal_mask(n)
    for layer in tm.encoder.layers:
        h = layer(h, attention_mask=mask)
    h = tm.final_layer_norm(h)
    pooled = h[torch.arange(h.shape[0]), eot]
    return model.text_projection(pooled)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encode-repeats", type=int, default=1)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--padded-train-limit", type=int, default=250,
                        help="run the 77-position training step only for at most this many prompts")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    prompts = load_file(args.prompts)

    # Text features of the frozen prompts.
    ids = prompts["encode_ids"].long()
    encode_times = []
    for _ in range(args.encode_repeats):
        start = time.perf_counter()
        with torch.no_grad():
            features = torch.cat([model(input_ids=ids[i:i + args.batch]).text_embeds
                                  for i in range(0, ids.shape[0], args.batch)])
        encode_times.append(time.perf_counter() - start)

    # One training step over the label rows.
    train_ids = prompts["train_ids"].long()
    eot = prompts["train_eot"].long()
    trainable = prompts["train_trainable"].bool()
    weights = prompts["train_weights"]
    label_rows = prompts["train_vectors"].clone().requires_grad_(True)
    embedding = model.text_model.embeddings.token_embedding
    def step(ids, trainable, bf16=False):
        label_rows.grad = None
        start = time.perf_counter()
        with torch.no_grad():
            frozen = embedding(ids)
        x = frozen.masked_scatter(trainable[..., None], label_rows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            feats = spliced_features(model, x, eot)
        loss = (torch.nn.functional.normalize(feats.float(), dim=-1) * weights).sum()
        loss.backward()
        return time.perf_counter() - start, feats.detach().float(), label_rows.grad.clone()

    train_times, truncated_times, bf16_times = [], [], []
    # Padded to 77 positions, the activations of many prompts do not fit in memory.
    padded = train_ids.shape[0] <= args.padded_train_limit
    for _ in range(args.train_repeats if padded else 0):
        seconds, feats, grad = step(train_ids, trainable)
        train_times.append(seconds)
    # Causal attention: the rows after the longest prompt's EOT change nothing before it.
    length = int(eot.max()) + 1
    short_ids, short_trainable = train_ids[:, :length].contiguous(), trainable[:, :length].contiguous()
    for _ in range(args.train_repeats):
        seconds, truncated_feats, truncated_grad = step(short_ids, short_trainable)
        truncated_times.append(seconds)
    for _ in range(args.train_repeats):
        seconds, bf16_feats, bf16_grad = step(short_ids, short_trainable, bf16=True)
        bf16_times.append(seconds)
    if padded:
        # The truncated step must be the same function as the padded one.
        assert torch.allclose(truncated_feats, feats, rtol=1e-4, atol=1e-5), "truncation changed the features"
    else:
        feats, grad = truncated_feats, truncated_grad.clone()
    save_file({"text_embeds": features.contiguous(), "train_features": feats.detach().contiguous(),
               "grad_label_rows": grad.contiguous(),
               "grad_label_rows_truncated": truncated_grad.contiguous(), "grad_label_rows_bf16": bf16_grad.contiguous()},
              args.out)
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "encode_seconds": min(encode_times),
        "train_step_seconds": min(train_times) if padded else None,
        "train_step_median_seconds": statistics.median(train_times) if padded else None,
        "train_step_truncated_seconds": min(truncated_times), "truncated_length": length,
        "train_step_bf16_seconds": min(bf16_times),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "encode_batch": args.batch, "padded_length": int(ids.shape[1]),
    }))


if __name__ == "__main__":
    main()
