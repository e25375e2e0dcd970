#!/usr/bin/env python3
"""Rewrites an Osprey checkpoint directory as self-contained safetensors shards.

    .venv/bin/python scripts/convert_checkpoint.py models/Osprey-7b models/Osprey-7b-st \
        [--dtype keep|float32|bfloat16|float16] [--vision-tower PATH] [--max-shard-gb 5]

Model::load reads the published checkpoints as they are; converting is optional and buys:
  * memory-mapped loading (safetensors) instead of unpickling torch .bin shards;
  * one directory that carries the CLIP ConvNeXt trunk itself, under the key prefix
    `model.vision_tower.vision_tower.visual.trunk.`, so `mm_vision_tower` need not resolve;
  * optionally another dtype (bfloat16 halves a float32 checkpoint).
Every other file of the directory (config.json, tokenizer files, ...) is copied; config.json
gets `torch_dtype` set to the written dtype. The source is never modified. Tensors are
converted one source shard at a time, so memory stays near one shard's size.
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

TRUNK_PREFIX = "model.vision_tower.vision_tower.visual.trunk."
CLIP_TRUNK_PREFIX = "visual.trunk."
CLIP_FILES = ("open_clip_pytorch_model.bin", "open_clip_model.safetensors")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def fail(message):
    sys.exit(f"convert_checkpoint: {message}")


def read_tensors(path):
    """All tensors of one .safetensors or torch .bin file, on the CPU."""
    if path.endswith(".safetensors"):
        with safe_open(path, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        fail(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def weight_files(model_dir):
    """The checkpoint's weight files, in the order Model::load prefers them."""
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        path = os.path.join(model_dir, index)
        if os.path.exists(path):
            with open(path) as f:
                weight_map = json.load(f).get("weight_map")
            if not isinstance(weight_map, dict):
                fail(f"{path}: no weight_map object")
            return [os.path.join(model_dir, name) for name in sorted(set(weight_map.values()))], index
    for single in ("model.safetensors", "pytorch_model.bin"):
        path = os.path.join(model_dir, single)
        if os.path.exists(path):
            return [path], single
    fail(f"{model_dir}: no model.safetensors(.index.json) or pytorch_model.bin(.index.json)")


def vision_tower_file(model_dir, config, override):
    """The CLIP file named by --vision-tower or config.json's mm_vision_tower, or None."""
    if override:
        path = os.path.abspath(override)
    elif config.get("mm_vision_tower"):
        path = os.path.join(model_dir, config["mm_vision_tower"])  # an absolute value stays as is
    else:
        return None
    if os.path.isdir(path):
        for name in CLIP_FILES:
            if os.path.exists(os.path.join(path, name)):
                return os.path.join(path, name)
        fail(f"vision tower directory {path} holds none of {', '.join(CLIP_FILES)}")
    if not os.path.exists(path):
        if override:
            fail(f"vision tower {path} does not exist")
        return None
    return path


class ShardWriter:
    """Collects tensors and writes model-XXXXX-of-YYYYY.safetensors shards of a bounded size."""

    def __init__(self, out_dir, max_bytes):
        self.out_dir, self.max_bytes = out_dir, max_bytes
        self.pending, self.pending_bytes, self.shards, self.total = {}, 0, [], 0

    def add(self, name, tensor):
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_bytes:
            self.flush()
        # A copy of its own: safetensors refuses tensors that share storage (tied weights).
        self.pending[name] = tensor.contiguous().clone()
        self.pending_bytes += size
        self.total += size

    def flush(self):
        if not self.pending:
            return
        name = f"shard-{len(self.shards):05d}.tmp"
        save_file(self.pending, os.path.join(self.out_dir, name), metadata={"format": "pt"})
        self.shards.append((name, sorted(self.pending)))
        self.pending, self.pending_bytes = {}, 0

    def finish(self):
        self.flush()
        count = len(self.shards)
        names = ["model.safetensors"] if count == 1 else \
            [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
        weight_map = {}
        for (tmp, keys), final in zip(self.shards, names):
            path = os.path.join(self.out_dir, final)
            os.replace(os.path.join(self.out_dir, tmp), path)
            os.chmod(path, 0o644)  # save_file creates the temporary file private to its owner
            weight_map.update({k: final for k in keys})
        if count == 1:
            return names
        with open(os.path.join(self.out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": self.total}, "weight_map": weight_map}, f, indent=2)
        return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="checkpoint directory (as published)")
    ap.add_argument("dst", help="output directory (created; must not be the source)")
    ap.add_argument("--dtype", default="keep", choices=["keep", *DTYPES],
                    help="floating-point dtype to write (default: keep each tensor's own)")
    ap.add_argument("--vision-tower", help="CLIP file or directory when the checkpoint lacks the "
                    "trunk (default: config.json's mm_vision_tower, relative to SRC)")
    ap.add_argument("--max-shard-gb", type=float, default=5.0, help="shard size limit (default 5)")
    args = ap.parse_args()

    src, dst = os.path.abspath(args.src), os.path.abspath(args.dst)
    if src == dst:
        fail("the output directory must differ from the source")
    config_path = os.path.join(src, "config.json")
    if not os.path.exists(config_path):
        fail(f"{config_path} does not exist")
    with open(config_path) as f:
        config = json.load(f)
    files, layout = weight_files(src)
    target = DTYPES.get(args.dtype)
    os.makedirs(dst, exist_ok=True)
    writer = ShardWriter(dst, int(args.max_shard_gb * (1 << 30)))

    def convert(tensor):
        return tensor.to(target) if target is not None and tensor.is_floating_point() else tensor

    has_trunk, seen = False, set()
    for path in files:
        for name, tensor in sorted(read_tensors(path).items()):
            if name in seen:
                fail(f"{path}: tensor {name} appears in two shards")
            seen.add(name)
            has_trunk = has_trunk or name.startswith(TRUNK_PREFIX)
            writer.add(name, convert(tensor))
    vision = None
    if not has_trunk:
        vision = vision_tower_file(src, config, args.vision_tower)
        if vision is None:
            fail("the checkpoint has no vision trunk and no CLIP file was found: pass --vision-tower")
        clip = read_tensors(vision)
        trunk = {k: v for k, v in clip.items() if k.startswith(CLIP_TRUNK_PREFIX)}
        if not trunk:
            fail(f"{vision}: no '{CLIP_TRUNK_PREFIX}*' tensors")
        for name, tensor in sorted(trunk.items()):
            writer.add(TRUNK_PREFIX + name[len(CLIP_TRUNK_PREFIX):], convert(tensor))
    written = writer.finish()

    weight_names = {os.path.basename(p) for p in files} | {layout}
    for entry in sorted(os.listdir(src)):
        source = os.path.join(src, entry)
        if entry in weight_names or entry == "config.json" or not os.path.isfile(source):
            continue
        if entry.endswith((".bin", ".safetensors", ".index.json")):
            continue  # other weight files (e.g. a .bin copy next to safetensors) are not carried
        shutil.copy2(source, os.path.join(dst, entry))
    if args.dtype != "keep":
        config["torch_dtype"] = args.dtype
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {dst}: {len(seen) + (len(trunk) if vision else 0)} tensors in "
          f"{', '.join(written)}" + (f" (trunk from {vision})" if vision else ""))


if __name__ == "__main__":
    main()
