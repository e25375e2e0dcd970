"""Writes the image-decoding test inputs and what Pillow makes of them.

Usage: make_images.py OUT_DIR

Each decodable image `<name>.<ext>` gets a reference `expected.<name>` ([H, W, 3] uint8) in
OUT_DIR/expected.safetensors: Pillow's `convert("RGB")` after applying the EXIF orientation
(`ImageOps.exif_transpose`), i.e. what a viewer shows. Files meant to be rejected are
written as they are, with no reference.
"""
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import save_file


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png16(pixels: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG (Pillow cannot write 16-bit colour): pixels [H, W, C] uint16."""
    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) +
            png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def quadrants(width: int, height: int) -> Image.Image:
    """Four flat colour blocks: orientation errors are obvious, JPEG error stays tiny."""
    a = np.zeros((height, width, 3), np.uint8)
    a[: height // 2, : width // 2] = (230, 30, 30)
    a[: height // 2, width // 2:] = (30, 200, 40)
    a[height // 2:, : width // 2] = (40, 40, 220)
    a[height // 2:, width // 2:] = (240, 240, 60)
    return Image.fromarray(a, "RGB")


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    expected = {}

    def add(name: str, data: bytes, reference: bool = True) -> None:
        (out / name).write_bytes(data)
        if reference:
            with Image.open(io.BytesIO(data)) as im:
                rgb = ImageOps.exif_transpose(im).convert("RGB")
                expected["expected." + name] = torch.from_numpy(np.array(rgb)).contiguous()

    noise = lambda *shape: rng.integers(0, 256, shape, dtype=np.uint8)
    add("rgb.png", encode(Image.fromarray(noise(23, 37, 3), "RGB"), "PNG"))
    add("rgba.png", encode(Image.fromarray(noise(19, 29, 4), "RGBA"), "PNG"))
    add("gray.png", encode(Image.fromarray(noise(17, 31), "L"), "PNG"))
    add("gray_alpha.png", encode(Image.fromarray(noise(13, 11, 2), "LA"), "PNG"))
    add("palette.png", encode(Image.fromarray(noise(21, 18, 3), "RGB").quantize(64), "PNG"))
    wide16 = lambda *shape: rng.integers(0, 65536, shape, dtype=np.uint16)
    add("rgb16.png", png16(wide16(9, 14, 3), color_type=2))
    add("rgba16.png", png16(wide16(8, 6, 4), color_type=6))
    add("gray_alpha16.png", png16(wide16(7, 5, 2), color_type=4))
    add("gray16.png", png16(wide16(6, 10, 1), color_type=0), reference=False)

    # EXIF orientation 1..8 on a 48x32 JPEG (quality 95, no chroma subsampling).
    base = quadrants(48, 32)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(f"orient{orientation}.jpg",
            encode(base, "JPEG", quality=95, subsampling=0, exif=exif.tobytes()))

    jpeg = encode(quadrants(64, 48), "JPEG", quality=90)
    # Data after the end-of-image marker (camera trailers) must not be mistaken for damage.
    add("trailer.jpg", jpeg + b"trailing camera data \xff\xd8 not an image")
    # Several scans with tables in between must not look truncated either.
    add("progressive.jpg", encode(quadrants(64, 48), "JPEG", quality=90, progressive=True))
    (out / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    png = encode(Image.fromarray(noise(40, 40, 3), "RGB"), "PNG")
    (out / "truncated.png").write_bytes(png[: len(png) // 2])
    corrupt = bytearray(png)
    corrupt[len(png) // 2: len(png) // 2 + 16] = b"\x00" * 16  # breaks the IDAT checksum
    (out / "corrupt.png").write_bytes(bytes(corrupt))
    zero_width = bytearray(png)
    zero_width[16:20] = struct.pack(">I", 0)  # IHDR width 0
    zero_width[29:33] = struct.pack(">I", zlib.crc32(bytes(zero_width[12:29])) & 0xFFFFFFFF)
    (out / "zero_width.png").write_bytes(bytes(zero_width))
    (out / "not_an_image.txt").write_text("hello, this is text, not pixels\n" * 10)
    (out / "empty.png").write_bytes(b"")

    save_file(expected, str(out / "expected.safetensors"))


if __name__ == "__main__":
    main()
