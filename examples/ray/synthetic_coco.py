"""A COCO-style annotation file made from the bundled tiny-shapes scene, for trying and measuring
the Ray pipeline without a dataset: scene k is the bundled one flipped and rolled, its 4 regions
written in turn as compressed RLE, uncompressed RLE, a polygon and a bbox only.

    python examples/ray/synthetic_coco.py OUT_DIR [--scenes 20]   # OUT_DIR/instances.json + PNGs
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

import regionlm

SCENE_DIR = Path(__file__).resolve().parents[1] / "data" / "tiny-shapes-scene"


def run_lengths(mask):
    """COCO's uncompressed RLE: column-major runs, the first one of zeros."""
    flat = mask.flatten(order="F")
    boundaries = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(boundaries).tolist()
    return [0] + runs if flat[0] else runs


def make_dataset(out_dir, scenes=20):
    """Writes OUT_DIR/scene_KK.png and OUT_DIR/instances.json; returns the annotation file's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = np.asarray(Image.open(SCENE_DIR / "image.png").convert("RGB"))
    masks = []
    for path in sorted(SCENE_DIR.glob("mask_*.png")):
        pixels = np.asarray(Image.open(path))
        masks.append((pixels if pixels.ndim == 2 else pixels.max(axis=2)) != 0)
    coco = {"images": [], "annotations": []}
    for k in range(scenes):
        def transform(a, k=k):
            a = a[:, ::-1] if k % 2 else a
            a = a[::-1] if (k // 2) % 2 else a
            return np.ascontiguousarray(np.roll(a, shift=(7 * k, 3 * k), axis=(0, 1)))
        Image.fromarray(transform(image)).save(out / f"scene_{k:02d}.png")
        coco["images"].append({"id": 100 + k, "file_name": f"scene_{k:02d}.png", "height": image.shape[0],
                               "width": image.shape[1]})
        for r, mask in enumerate(masks):
            m = transform(mask).astype(np.uint8)
            ys, xs = np.nonzero(m)
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            form = (k + r) % 4
            if form == 0:
                segmentation = {"size": list(m.shape), "counts": regionlm.rle_encode(m)}
            elif form == 1:
                segmentation = {"size": list(m.shape), "counts": run_lengths(m)}
            elif form == 2:  # a polygon inside the box
                segmentation = [[x0, y0, x1, y0, x1, y1 - 2, x0 + 3, y1]]
            else:  # bbox only
                segmentation = []
            coco["annotations"].append({"id": 1000 * k + r, "image_id": 100 + k, "segmentation": segmentation,
                                        "bbox": [x0, y0, x1 - x0, y1 - y0]})
    path = out / "instances.json"
    path.write_text(json.dumps(coco))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--scenes", type=int, default=20)
    args = parser.parse_args()
    print(make_dataset(args.out_dir, args.scenes))
