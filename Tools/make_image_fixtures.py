"""Image fixtures for Sources/Images: small synthetic PNG and JPEG files, bad files, and the
reference answers of PIL and transformers for them.

Run (from the repository root):

    /work/pyenv/bin/python Tools/make_image_fixtures.py [--out Tests/Fixtures/images]

Everything is seeded, so re-running reproduces identical files (given the same Pillow and
libjpeg-turbo).

Images (Tests/Fixtures/images/<name>):
    PNG  rgb, rgba (alpha 0..255, colour kept under alpha 0), palette, palette with tRNS, gray,
         gray+alpha, 1-bit, 16-bit gray, 16-bit RGB, 16-bit RGBA, an RGB file with a gAMA chunk
         of 1.0 (PIL ignores gAMA), 1x1, and two larger ones for the 224 reference
    JPEG baseline 4:2:0, baseline 4:4:4, progressive, restart markers (DRI, RSTn), gray, CMYK
         (Adobe, inverted as Photoshop writes it), EXIF orientation 6 (PIL does not rotate), 1x1
    bad  truncated JPEG, 12-bit JPEG (frame header patched), zero-byte PNG, text named .png, a PNG
         whose header claims 20000x20000, a truncated PNG

Total under 1.5 MB: the two 224 references take 1.2 MB of it.

reference.safetensors
    rgb8.<name>     U8  [H, W, 3]   np.asarray(Image.open(p).convert("RGB"))  (every good image
                                    but the two large ones)
    clip32.<name>   F32 [3, 32, 32] CLIPImageProcessorPil(shortest_edge 32, crop 32) on the
                                    PIL-decoded image (four images, and the two large ones): the
                                    PIL path of the original CLIP preprocess (Image.resize
                                    BICUBIC, centre crop, /255, mean/std)
    clip32tv.<name> F32 [3, 32, 32] the same with transformers' default CLIPImageProcessor (one
                                    image), whose resize is torchvision's (antialiased bicubic on
                                    tensors); it differs from PIL by rounding, kept to measure that
    clip224.<name>  F32 [3, 224, 224] CLIPImageProcessorPil at ViT-B's 224, for the two large PNGs
"""

import argparse
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import save_file
from transformers.models.clip.image_processing_clip import CLIPImageProcessor
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil


def scene(w, h, seed, noise=24):
    """Gradients, shapes, a line of text and a little noise: edges and smooth areas both."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin((x + 2 * y) / 7.0)
    arr = np.stack([r, g, b], axis=-1)
    arr += rng.normal(0, noise, arr.shape) if noise else 0
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([w // 5, h // 6, w // 2, h // 2], fill=(250, 20, 30))
    d.ellipse([w // 2, h // 3, w - 2, h - 2], fill=(10, 200, 60), outline=(0, 0, 0))
    d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=2)
    d.text((2, 2), "CLIP 42", fill=(0, 0, 0))
    return im


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png16(arr, color_type):
    """A 16-bit PNG written by hand (PIL cannot save 16-bit RGB or RGBA)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def with_gamma(png_bytes, gamma_times_100000):
    """Inserts a gAMA chunk after IHDR (IHDR is 8 + 25 bytes in)."""
    cut = 8 + 25
    return png_bytes[:cut] + png_chunk(b"gAMA", struct.pack(">I", gamma_times_100000)) + png_bytes[cut:]


def save(im, path, **kw):
    im.save(path, **kw)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/images")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    rng = np.random.default_rng(7)

    good = []  # names decoded by PIL and stored as references
    base = scene(64, 48, 1)
    good.append(os.path.basename(save(base, p("rgb_64x48.png"))))

    rgba = base.convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))
    good.append(os.path.basename(save(rgba, p("rgba_64x48.png"))))

    tall = scene(37, 61, 2)
    pal = tall.quantize(colors=40, dither=Image.Dither.NONE)
    good.append(os.path.basename(save(pal, p("palette_37x61.png"))))
    good.append(os.path.basename(save(pal, p("palette_trns_37x61.png"), transparency=3)))
    good.append(os.path.basename(save(tall.convert("L"), p("gray_37x61.png"))))
    good.append(os.path.basename(save(tall.convert("LA"), p("gray_alpha_37x61.png"))))
    good.append(os.path.basename(save(scene(20, 10, 3).convert("1"), p("bilevel_20x10.png"))))

    g16 = (rng.integers(0, 65536, (20, 30)).astype(np.uint16))
    g16[0, :10] = np.arange(10) * 30  # some values below 256, where PIL's I;16 -> RGB does not clip
    with open(p("gray16_30x20.png"), "wb") as f:
        f.write(png16(g16[..., None], 0))
    good.append("gray16_30x20.png")
    with open(p("rgb16_30x20.png"), "wb") as f:
        f.write(png16(rng.integers(0, 65536, (20, 30, 3)).astype(np.uint16), 2))
    good.append("rgb16_30x20.png")
    with open(p("rgba16_30x20.png"), "wb") as f:
        f.write(png16(rng.integers(0, 65536, (20, 30, 4)).astype(np.uint16), 6))
    good.append("rgba16_30x20.png")
    buf = io.BytesIO()
    scene(30, 20, 4).save(buf, "PNG")
    with open(p("gamma1_30x20.png"), "wb") as f:
        f.write(with_gamma(buf.getvalue(), 100000))
    good.append("gamma1_30x20.png")
    good.append(os.path.basename(save(Image.new("RGB", (1, 1), (12, 34, 56)), p("pixel_1x1.png"))))

    photo = scene(88, 60, 5)
    good.append(os.path.basename(save(photo, p("baseline_88x60.jpg"), quality=90)))
    good.append(os.path.basename(save(tall, p("baseline444_37x61.jpg"), quality=95, subsampling=0)))
    good.append(os.path.basename(save(photo, p("progressive_88x60.jpg"), quality=85, progressive=True)))
    good.append(os.path.basename(save(base, p("restart_64x48.jpg"), quality=90, restart_marker_rows=1)))
    good.append(os.path.basename(save(base.convert("L"), p("gray_64x48.jpg"), quality=90)))
    good.append(os.path.basename(save(scene(40, 30, 6).convert("CMYK"), p("cmyk_40x30.jpg"), quality=92)))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display; PIL's open() does not apply it
    good.append(os.path.basename(save(base, p("exif_rotated_64x48.jpg"), quality=90, exif=exif.tobytes())))
    good.append(os.path.basename(save(Image.new("RGB", (1, 1), (200, 100, 50)), p("pixel_1x1.jpg"))))

    # The 224 references: one image the resize enlarges, one it shrinks (with antialiasing).
    large = ["upscale_150x100.png", "downscale_300x260.png"]
    save(scene(150, 100, 8, noise=0), p(large[0]))
    save(scene(300, 260, 9, noise=0), p(large[1]))

    # Bad files.
    with open(p("baseline_88x60.jpg"), "rb") as f:
        jpeg = f.read()
    with open(p("truncated.jpg"), "wb") as f:
        f.write(jpeg[: len(jpeg) // 2])
    sof = jpeg.index(b"\xff\xc0")
    broken = bytearray(jpeg)
    broken[sof + 4] = 12  # 12-bit precision: this decoder (like PIL's 8-bit mode) cannot take it
    with open(p("precision12.jpg"), "wb") as f:
        f.write(bytes(broken))
    open(p("empty.png"), "wb").close()
    with open(p("text.png"), "wb") as f:
        f.write(b"label,path\nhummingbird,images/1.jpg\n")
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    with open(p("huge_20000x20000.png"), "wb") as f:
        # A few rows' worth of data: the header alone must be enough to refuse it.
        idat = zlib.compress(b"\0" * (3 * 20000 + 1) * 4, 9)
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    with open(p("rgb_64x48.png"), "rb") as f:
        png = f.read()
    with open(p("truncated.png"), "wb") as f:
        f.write(png[: len(png) * 2 // 3])

    # Preprocessed at 32 (fixture size budget): downscaling, a tall image, upscaling, 1x1.
    preprocessed = ["rgb_64x48.png", "palette_37x61.png", "gray16_30x20.png", "pixel_1x1.png"]
    tensors = {}
    pil32 = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tv32 = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pil224 = CLIPImageProcessorPil()
    for name in good:
        rgb = Image.open(p(name)).convert("RGB")
        tensors[f"rgb8.{name}"] = np.ascontiguousarray(np.asarray(rgb))
        if name in preprocessed:
            tensors[f"clip32.{name}"] = pil32(images=rgb, return_tensors="np")["pixel_values"][0].astype(np.float32)
        if name in preprocessed[:1]:
            tv = tv32(images=rgb, return_tensors="pt")["pixel_values"][0].numpy()
            tensors[f"clip32tv.{name}"] = tv.astype(np.float32)
    for name in large:
        rgb = Image.open(p(name)).convert("RGB")
        tensors[f"clip224.{name}"] = pil224(images=rgb, return_tensors="np")["pixel_values"][0].astype(np.float32)
        tensors[f"clip32.{name}"] = pil32(images=rgb, return_tensors="np")["pixel_values"][0].astype(np.float32)

    # Self-checks: the facts the Swift decoder relies on.
    la = np.asarray(Image.open(p("gray_alpha_37x61.png")).convert("RGB"))
    assert (la[..., 0] == np.asarray(Image.open(p("gray_37x61.png")))).all(), "LA -> RGB keeps gray, drops alpha"
    ra = np.asarray(Image.open(p("rgba_64x48.png")).convert("RGB"))
    assert (ra == np.asarray(base)).all(), "RGBA -> RGB drops alpha without compositing"
    g = np.asarray(Image.open(p("gray16_30x20.png")).convert("RGB"))[..., 0]
    assert (g == np.minimum(g16, 255)).all(), "I;16 -> RGB clips at 255"
    ex = Image.open(p("exif_rotated_64x48.jpg"))
    assert ex.size == (64, 48) and ex.getexif().get(0x0112) == 6

    # One key: safetensors writes metadata from a hash map, so several keys come out in any order.
    metadata = {"format": "lamm-store image fixtures, version 1"}
    save_file(tensors, p("reference.safetensors"), metadata=metadata)
    total = sum(os.path.getsize(p(f)) for f in os.listdir(out))
    print(f"{len(good)} small images, {len(large)} large, {len(tensors)} tensors, {total} bytes in {out}")


if __name__ == "__main__":
    main()
