"""Reference cases for the Pillow-compatible bicubic resampler.

Usage: pillow_resize.py OUT_FILE

Writes `case{i}.input` ([H, W, C] uint8) and `case{i}.expected` (Pillow's
`Image.resize((w, h), Image.BICUBIC)` of it) to a safetensors file. Modes "L" (1 channel),
"RGB" (3) and "CMYK" (4: a mode Pillow resizes channel by channel, unlike RGBA, which it
premultiplies by alpha first) cover every channel count the C++ resampler accepts.
"""
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

MODES = {1: "L", 3: "RGB", 4: "CMYK"}

# (in_w, in_h, out_w, out_h, channels): shrink, enlarge, mixed, extreme ratios, one-pixel
# sides, one axis unchanged (Pillow skips that pass).
CASES = [
    (97, 61, 40, 25, 3),
    (40, 25, 97, 61, 3),
    (300, 7, 31, 70, 3),
    (1, 1, 5, 3, 3),
    (5, 3, 1, 1, 3),
    (250, 180, 9, 13, 1),
    (64, 64, 64, 30, 4),
    (64, 64, 30, 64, 4),
    (33, 17, 33, 17, 3),
    (701, 403, 512, 294, 3),
    (129, 1, 512, 3, 1),
    (40, 300, 30, 60, 3),  # the height shrinks much more: Pillow 13 runs the vertical pass first
]


def image(rng, width, height, channels):
    """Half noise (extreme values, exercises clipping), half smooth ramps."""
    noise = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    ramp = ((xx * 7 + yy * 3) % 256).astype(np.uint8)[..., None].repeat(channels, axis=2)
    return np.where((xx < width // 2)[..., None], noise, ramp)


def main() -> None:
    rng = np.random.default_rng(2024)
    tensors = {}
    for i, (in_w, in_h, out_w, out_h, channels) in enumerate(CASES):
        pixels = image(rng, in_w, in_h, channels)
        source = Image.fromarray(pixels if channels > 1 else pixels[..., 0], MODES[channels])
        resized = np.array(source.resize((out_w, out_h), Image.BICUBIC))
        tensors[f"case{i}.input"] = torch.from_numpy(np.ascontiguousarray(pixels))
        tensors[f"case{i}.expected"] = torch.from_numpy(resized.reshape(out_h, out_w, channels).copy())
    save_file(tensors, sys.argv[1])


if __name__ == "__main__":
    main()
