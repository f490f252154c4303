"""Reference image features for the Swift CLIP vision tower, from the tiny checkpoints.

Run (from the repository root, after Tools/make_tiny_clip.py has written the checkpoints):

    /work/pyenv/bin/python Tools/make_vision_fixture.py [--fixtures Tests/Fixtures]

Reads the tiny random checkpoints (vision tower: image 32, patch 8, width 32, 2 layers,
4 heads, intermediate 128, projection 24) and writes Tests/Fixtures/vision/reference.safetensors:

    pixels                [4, 3, 32, 32]  F32, seeded N(0, 1): already normalised, channel-first
    image_embeds.<name>   [4, 24]         F32, CLIPModel.get_image_features (unnormalised),
                                          computed in float64 from the stored weights upcast
    for <name> in clip-tiny, clip-tiny-f16, clip-tiny-bf16, clip-tiny-gelu, clip-tiny-openclip,
and reference.json beside it with the library versions.

clip-tiny-openclip holds clip-tiny's weights under OpenAI / open_clip names; its reference is
open_clip's CLIP.encode_image on that file, asserted equal to transformers' clip-tiny answer.
Everything is seeded: re-running reproduces the file byte for byte.
"""
import argparse
import json
import os

import open_clip
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import CLIPModel

HF_FIXTURES = ("clip-tiny", "clip-tiny-f16", "clip-tiny-bf16", "clip-tiny-gelu")


def image_features(model, pixels):
    """get_image_features returns a tensor in transformers 4 and an output object in 5."""
    out = model.get_image_features(pixel_values=pixels)
    return out if torch.is_tensor(out) else out.pooler_output


def hf_reference(directory, pixels):
    model, info = CLIPModel.from_pretrained(directory, dtype=torch.float32, output_loading_info=True,
                                            attn_implementation="eager")
    assert not any(info.values()), info
    model.eval()
    with torch.no_grad():
        f32 = image_features(model, pixels)
        f64 = image_features(model.double(), pixels.double())
    d = (f32.double() - f64).abs().max().item()
    print(f"[{os.path.basename(directory)}] float32 vs float64 image_embeds: max|diff| = {d:.3e}, "
          f"max|value| = {f64.abs().max().item():.3f}")
    return f64


def open_clip_reference(directory, pixels):
    with open(os.path.join(directory, "open_clip_config.json")) as f:
        cfg = json.load(f)
    model = open_clip.model.CLIP(**cfg["model_cfg"])
    model.load_state_dict(load_file(os.path.join(directory, "open_clip_model.safetensors")), strict=True)
    model.eval()
    with torch.no_grad():
        return model.double().encode_image(pixels.double())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    args = parser.parse_args()
    fixtures = os.path.normpath(args.fixtures)
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.disable_progress_bar()

    pixels = torch.randn((4, 3, 32, 32), generator=torch.Generator().manual_seed(2026), dtype=torch.float32)
    tensors = {"pixels": pixels}
    for name in HF_FIXTURES:
        tensors[f"image_embeds.{name}"] = hf_reference(os.path.join(fixtures, name), pixels)

    oc = open_clip_reference(os.path.join(fixtures, "clip-tiny-openclip"), pixels)
    d = (oc - tensors["image_embeds.clip-tiny"]).abs().max().item()
    assert d < 1e-6, d
    print(f"[clip-tiny-openclip] open_clip encode_image vs transformers clip-tiny: max|diff| = {d:.3e}")
    tensors["image_embeds.clip-tiny-openclip"] = oc

    # The activations and storage types must matter, or the tests could not tell them apart.
    for other in ("clip-tiny-gelu", "clip-tiny-f16", "clip-tiny-bf16"):
        d = (tensors[f"image_embeds.{other}"] - tensors["image_embeds.clip-tiny"]).abs().max().item()
        assert d > 1e-4, (other, d)
        print(f"[{other}] differs from clip-tiny by max|diff| = {d:.3e}")

    out = os.path.join(fixtures, "vision")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "reference.safetensors")
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, path)
    # Versions beside the tensors: safetensors metadata is written in no fixed order.
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                "open_clip": open_clip.__version__},
                   "pixels": "seeded N(0, 1), torch.Generator().manual_seed(2026)",
                   "image_embeds": "CLIPModel.get_image_features in float64 (open_clip encode_image "
                                   "for clip-tiny-openclip), unnormalised, stored as F32"}, f, indent=2)
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
