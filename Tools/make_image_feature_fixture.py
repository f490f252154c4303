"""Image features of the image fixtures through the tiny CLIP checkpoint, end to end in PyTorch.

    /work/pyenv/bin/python Tools/make_image_feature_fixture.py

For each image: PIL opens it, transformers' CLIPImageProcessorPil preprocesses it at the tiny
checkpoint's image size (32), and CLIPModel.get_image_features (Tests/Fixtures/clip-tiny) encodes
it. Writes Tests/Fixtures/images/features.safetensors with `<file name>` F32 [24] (unnormalised),
so the Swift pipeline (decode, preprocess, image tower) can be checked against the whole
reference pipeline at once.
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "Fixtures")
IMAGES = ["rgb_64x48.png", "rgba_64x48.png", "palette_37x61.png", "gray16_30x20.png", "upscale_150x100.png",
          "downscale_300x260.png", "baseline_88x60.jpg", "progressive_88x60.jpg", "gray_64x48.jpg", "cmyk_40x30.jpg",
          "pixel_1x1.png"]


def main():
    model = CLIPModel.from_pretrained(os.path.join(FIXTURES, "clip-tiny"), attn_implementation="eager").eval()
    size = model.config.vision_config.image_size
    processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    out = {}
    with torch.no_grad():
        for name in IMAGES:
            image = Image.open(os.path.join(FIXTURES, "images", name)).convert("RGB")
            pixels = processor(images=image, return_tensors="pt")["pixel_values"]
            features = model.get_image_features(pixel_values=pixels)
            features = getattr(features, "pooler_output", features)
            out[name] = features[0].numpy().astype(np.float32)
    save_file(out, os.path.join(FIXTURES, "images", "features.safetensors"),
              metadata={"model": "Tests/Fixtures/clip-tiny", "images": json.dumps(IMAGES)})
    print(f"{len(out)} images, features of width {next(iter(out.values())).shape[0]}")


main()
