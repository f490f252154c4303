#!/usr/bin/env python3
"""PyTorch reference timings for `lamm-bench vision-tower`.

Reads the random image tower the Swift benchmark wrote (a Hugging Face directory: config.json
+ model.safetensors with the vision_model.* and visual_projection tensors) and its pixels
(pixels.safetensors, [N, 3, S, S] normalised), and encodes them the way a PyTorch user would:
transformers' CLIPVisionModelWithProjection (its default attention implementation), batches of
--batch images, under torch.no_grad(), on --threads threads; then the same under
torch.autocast("cpu", torch.bfloat16) (oneDNN's bf16 kernels), as a PyTorch user speeds it up.

Writes the features to --out for the Swift side to compare, and prints one JSON line of
timings (seconds for all N images: the best and the median of the repeats, after one warm-up
batch, as the Swift side reports).
"""
import argparse
import json
import statistics
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


def load_model(directory):
    with open(f"{directory}/config.json") as f:
        config = json.load(f)
    vision = CLIPVisionConfig(**config["vision_config"], projection_dim=config["projection_dim"])
    model = CLIPVisionModelWithProjection(vision)
    missing, unexpected = model.load_state_dict(load_file(f"{directory}/model.safetensors"), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--pixels", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    pixels = load_file(args.pixels)["pixels"]

    def encode(bf16=False):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return torch.cat([model(pixel_values=pixels[i:i + args.batch]).image_embeds
                              for i in range(0, pixels.shape[0], args.batch)])

    with torch.no_grad():
        model(pixel_values=pixels[:args.batch])
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        features = encode()
        times.append(time.perf_counter() - start)

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(pixel_values=pixels[:args.batch])
    bf16_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        bf16_features = encode(bf16=True)
        bf16_times.append(time.perf_counter() - start)
    save_file({"image_embeds": features.contiguous(), "image_embeds_bf16": bf16_features.float().contiguous()}, args.out)
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "attention": model.config._attn_implementation,
        "seconds": min(times), "median_seconds": statistics.median(times),
        "bf16_seconds": min(bf16_times), "bf16_median_seconds": statistics.median(bf16_times),
        "images": int(pixels.shape[0]), "batch": args.batch,
    }))


if __name__ == "__main__":
    main()
