"""Reference rasterisations and RLE strings from pycocotools, for test_region.

Usage: coco_reference.py OUT.safetensors

Writes, for deterministic (seeded) cases:
  rle.{i}.mask   uint8 [h, w]   a mask; metadata rle.{i}.counts = pycocotools' compressed
                                string, rle.{i}.runs = uncompressed run lengths (JSON)
  poly.{i}.mask  uint8 [h, w]   frPyObjects(polygons) decoded and merged (union);
                                metadata poly.{i}.polygons = [[x, y, x, y, ...], ...]
  box.{i}.mask   uint8 [h, w]   frPyObjects(np.array([[x, y, w, h]])) decoded;
                                metadata box.{i}.box = [x0, y0, x1, y1]
and metadata rle_cases / poly_cases / box_cases (counts).
"""
import json
import sys

import numpy as np
import torch
from pycocotools import mask as coco
from safetensors.torch import save_file


def runs_of(mask):
    """Column-major run lengths, first run = zeros (independent of pycocotools)."""
    flat = np.asfortranarray(mask).flatten(order="F").astype(np.int64)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return runs


def rle_masks(rng):
    masks = []
    masks.append(np.zeros((7, 9), np.uint8))
    masks.append(np.ones((7, 9), np.uint8))
    masks.append(np.ones((1, 1), np.uint8))
    masks.append(np.zeros((1, 1), np.uint8))
    row = np.zeros((1, 40), np.uint8)
    row[0, ::3] = 1
    masks.append(row)
    masks.append(row.T.copy())
    corners = np.zeros((12, 17), np.uint8)
    corners[0, 0] = corners[0, -1] = corners[-1, 0] = corners[-1, -1] = 1
    masks.append(corners)
    frame = np.zeros((20, 31), np.uint8)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = 1
    masks.append(frame)
    checker = (np.indices((15, 16)).sum(0) % 2).astype(np.uint8)
    masks.append(checker)
    # Smooth random blobs at a realistic size: long runs (multi-character values, negative
    # differences) touching the borders.
    for h, w, keep in ((480, 640, 0.5), (333, 517, 0.3), (64, 48, 0.7)):
        noise = rng.standard_normal((h // 8 + 2, w // 8 + 2))
        up = np.kron(noise, np.ones((8, 8)))[:h, :w]
        masks.append((up > np.quantile(up, 1 - keep)).astype(np.uint8))
    speckle = (rng.random((50, 70)) < 0.1).astype(np.uint8)
    masks.append(speckle)
    big = np.zeros((480, 640), np.uint8)
    big[100:380, 0:640] = 1  # a band spanning whole rows: runs longer than a column
    masks.append(big)
    return masks


def random_polygon(rng, cx, cy, radius, n):
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.3, 1.0, n)
    xs = cx + radii * np.cos(angles)
    ys = cy + radii * np.sin(angles)
    return [float(v) for xy in zip(xs, ys) for v in xy]


def polygon_cases(rng):
    cases = []  # (height, width, [polygon, ...])
    cases.append((10, 12, [[2.3, 1.7, 9.6, 3.1, 5.2, 8.8]]))
    cases.append((16, 16, [[0, 0, 16, 0, 16, 16, 0, 16]]))  # whole image, on the borders
    cases.append((20, 30, [[-5.5, -3.2, 12.25, -1.0, 40.0, 25.0, 3.3, 26.7]]))  # sticks out
    cases.append((25, 25, [[2.1, 2.1, 20.1, 2.1, 20.1, 20.1, 11.1, 8.1, 2.1, 20.1]]))  # concave
    cases.append((25, 25, [[2, 2, 20, 20, 20, 2, 2, 20]]))  # self-intersecting bow tie
    cases.append((30, 40, [[1.5, 1.5, 2.5, 1.5, 2.5, 2.5]]))  # sub-pixel triangle
    cases.append((8, 8, [[-0.15, -0.3, 3.42, -0.2, 3.5, 4.1, -0.61, 3.9]]))  # negatives
    for k in range(12):
        h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        parts = []
        for _ in range(1 + k % 3):  # several parts: union, overlapping sometimes
            n = int(rng.integers(3, 16))
            cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
            parts.append(random_polygon(rng, cx, cy, rng.uniform(3, 0.6 * max(h, w)), n))
        cases.append((h, w, parts))
    # Coordinates on a 0.1 grid hit COCO's rounding boundaries (x * 5 + 0.5 integral).
    for _ in range(4):
        h, w = 40, 50
        n = int(rng.integers(3, 9))
        pts = np.round(rng.uniform(-2, 52, 2 * n), 1)
        cases.append((h, w, [[float(v) for v in pts]]))
    return cases


def box_cases(rng):
    cases = [
        (10, 12, [2, 3, 6, 8]),
        (10, 12, [0, 0, 12, 10]),         # exactly the image
        (10, 12, [-4, -3, 3, 2]),         # clipped at the top-left
        (10, 12, [9, 7, 20, 30]),         # clipped at the bottom-right
        (10, 12, [2.5, 3.5, 6.5, 8.5]),   # half-pixel corners
        (10, 12, [2.25, 3.75, 2.75, 8]),  # narrower than a pixel
        (10, 12, [2.125, 0.375, 9.875, 9.625]),
        (480, 640, [100, 50, 400, 300]),
    ]
    for _ in range(8):  # eighths: exact in binary, so x + (x1 - x0) == x1 in pycocotools
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        x0, x1 = np.sort(rng.integers(-16, 8 * w + 16, 2) / 8.0)
        y0, y1 = np.sort(rng.integers(-16, 8 * h + 16, 2) / 8.0)
        cases.append((h, w, [float(x0), float(y0), float(x1), float(y1)]))
    return cases


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20240425)
    tensors, meta = {}, {}

    masks = rle_masks(rng)
    for i, m in enumerate(masks):
        rle = coco.encode(np.asfortranarray(m))
        runs = runs_of(m)
        # the uncompressed runs must compress to pycocotools' own string
        via_runs = coco.frPyObjects([{"size": list(m.shape), "counts": runs}], *m.shape)[0]
        assert via_runs["counts"] == rle["counts"], i
        assert np.array_equal(coco.decode(rle), m), i
        tensors[f"rle.{i}.mask"] = torch.from_numpy(m.copy())
        meta[f"rle.{i}.counts"] = rle["counts"].decode("ascii")
        meta[f"rle.{i}.runs"] = json.dumps(runs)
    meta["rle_cases"] = str(len(masks))

    polys = polygon_cases(rng)
    for i, (h, w, parts) in enumerate(polys):
        rles = coco.frPyObjects(parts, h, w)
        m = coco.decode(coco.merge(rles))
        tensors[f"poly.{i}.mask"] = torch.from_numpy(np.ascontiguousarray(m))
        meta[f"poly.{i}.polygons"] = json.dumps(parts)
    meta["poly_cases"] = str(len(polys))

    boxes = box_cases(rng)
    for i, (h, w, (x0, y0, x1, y1)) in enumerate(boxes):
        bbox = np.array([[x0, y0, x1 - x0, y1 - y0]], dtype=np.float64)
        m = coco.decode(coco.frPyObjects(bbox, h, w))[:, :, 0]
        tensors[f"box.{i}.mask"] = torch.from_numpy(np.ascontiguousarray(m))
        meta[f"box.{i}.box"] = json.dumps([x0, y0, x1, y1])
    meta["box_cases"] = str(len(boxes))

    save_file(tensors, out, metadata=meta)
    print(out)


if __name__ == "__main__":
    main()
