#!/usr/bin/env python3
"""Merges the published GPT4RoI-7B delta (shilongz/GPT4RoI-7B-delta-V0) with a LLaMA-7B (v1)
base into the checkpoint regionlm::Model loads, one tensor at a time.

    .venv/bin/python scripts/apply_gpt4roi_delta.py --base models/llama-7b-hf \
        --delta models/GPT4RoI-7B-delta-V0 --target models/GPT4RoI-7B \
        [--dtype float16|bfloat16|float32] [--max-shard-gb 2]

The rule is GPT4RoI's scripts/apply_delta.py (spec A.4): every delta tensor that the base also
has becomes delta + base; for model.embed_tokens.weight and lm_head.weight, whose delta has
32006 rows against the base's 32000, only the first 32000 rows get the base added (the six
added tokens are stored as they are); model.mm_projector.* and model.spi_module.* are not in
the base and are copied. Any other tensor missing from the base, or a shape that does not fit,
stops the merge with the tensor's name. The sum is computed in --dtype (default float16, the
precision the original merge uses).

Unlike the original (which loads both 7B models, about 30 GB of RAM), this streams: source
shards are memory-mapped, each tensor is summed and appended to the output shard being built,
and a shard is written once it reaches --max-shard-gb. Output: model-XXXXX-of-YYYYY.safetensors
shards with model.safetensors.index.json; every non-weight file of the delta directory
(config.json, tokenizer files, ...) is copied.
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ROW_PADDED = ("model.embed_tokens.weight", "lm_head.weight")
AS_STORED = ("model.mm_projector.", "model.spi_module.")
ROTARY_BUFFER = "rotary_emb.inv_freq"
WEIGHT_SUFFIXES = (".bin", ".safetensors", ".pt", ".pth")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def fail(message):
    sys.exit(f"apply_gpt4roi_delta: {message}")


class Checkpoint:
    """Tensor names of a checkpoint directory and lazy, memory-mapped access to them."""

    def __init__(self, path):
        self.path = path
        self.files = {}  # tensor name -> file
        for index in WEIGHT_INDEXES:
            index_path = os.path.join(path, index)
            if os.path.exists(index_path):
                with open(index_path) as f:
                    weight_map = json.load(f).get("weight_map")
                if not isinstance(weight_map, dict):
                    fail(f"{index_path}: no weight_map object")
                self.files = {k: os.path.join(path, v) for k, v in weight_map.items()}
                break
        else:
            for single in ("model.safetensors", "pytorch_model.bin"):
                file = os.path.join(path, single)
                if os.path.exists(file):
                    self.files = {k: file for k in self._open(file).keys()}
                    break
            else:
                fail(f"{path}: no checkpoint (expected an index json, model.safetensors or pytorch_model.bin)")
        self._open_file, self._handle = None, None

    def _open(self, file):
        if file.endswith(".safetensors"):
            return safe_open(file, "pt")
        # mmap: tensors are paged in when used, not read up front (zip-format files only; an
        # old-format file is read whole).
        try:
            state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            state = torch.load(file, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            fail(f"{file}: expected a state dict, found {type(state).__name__}")
        return state

    def names(self):
        return sorted(self.files)

    def shard_order(self):
        """Names grouped by file, so each file is opened once."""
        return sorted(self.files, key=lambda k: (self.files[k], k))

    def get(self, name):
        file = self.files[name]
        if file != self._open_file:
            self._open_file, self._handle = file, self._open(file)
        h = self._handle
        return h.get_tensor(name) if hasattr(h, "get_tensor") else h[name]

    def shape(self, name):
        file = self.files[name]
        if file.endswith(".safetensors"):
            with safe_open(file, "pt") as f:
                return list(f.get_slice(name).get_shape())
        return list(self.get(name).shape)


def check_shapes(name, delta_shape, base_shape):
    """Equal shapes, or (embed_tokens / lm_head only) a delta with at least the base's rows."""
    if list(delta_shape) == list(base_shape):
        return
    fits = (len(base_shape) == len(delta_shape) and len(base_shape) == 2 and base_shape[1] == delta_shape[1]
            and base_shape[0] <= delta_shape[0])
    if name not in ROW_PADDED or not fits:
        fail(f"tensor {name}: delta shape {list(delta_shape)} does not fit base shape {list(base_shape)}"
             + ("" if name in ROW_PADDED else " (only embed_tokens / lm_head may have extra rows)"))


def merge_tensor(name, delta, base, dtype):
    """delta + base by GPT4RoI's rule; `base` is None for tensors stored as they are."""
    out = delta.to(dtype).clone()
    if base is None:
        return out
    check_shapes(name, out.shape, base.shape)
    out[:base.shape[0]].add_(base.to(dtype)) if out.dim() else out.add_(base.to(dtype))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="LLaMA-7B (v1) in Hugging Face layout")
    ap.add_argument("--delta", required=True, help="GPT4RoI-7B-delta-V0 directory")
    ap.add_argument("--target", required=True, help="output directory (created; must not exist or be empty)")
    ap.add_argument("--dtype", default="float16", choices=sorted(DTYPES))
    ap.add_argument("--max-shard-gb", type=float, default=2.0)
    args = ap.parse_args()
    dtype = DTYPES[args.dtype]
    if os.path.exists(args.target) and os.listdir(args.target):
        fail(f"{args.target}: exists and is not empty")
    base, delta = Checkpoint(args.base), Checkpoint(args.delta)
    base_names = set(base.names())

    # Check every name and shape before writing anything.
    # transformers 4.29 saved the rotary `inv_freq` buffers; a base converted without them
    # (they are recomputed from the config, also by regionlm) leaves nothing to add: skip them.
    skipped = [n for n in delta.names() if n not in base_names and n.endswith(ROTARY_BUFFER)]
    for name in delta.names():
        if name in skipped:
            continue
        if name not in base_names:
            if not name.startswith(AS_STORED):
                fail(f"tensor {name}: in the delta but not in the base (only model.mm_projector.* and "
                     "model.spi_module.* may be new)")
        else:
            check_shapes(name, delta.shape(name), base.shape(name))

    os.makedirs(args.target, exist_ok=True)
    limit = int(args.max_shard_gb * (1 << 30))
    shards, current, size = [], {}, 0

    def flush():
        nonlocal current, size
        if current:
            file = f"model-{len(shards) + 1:05d}.safetensors.part"
            save_file(current, os.path.join(args.target, file), metadata={"format": "pt"})
            shards.append((file, sorted(current)))
            current, size = {}, 0

    for name in delta.shard_order():
        if name in skipped:
            continue
        d = delta.get(name)
        b = base.get(name) if name in base_names else None
        merged = merge_tensor(name, d, b, dtype)
        nbytes = merged.numel() * merged.element_size()
        if current and size + nbytes > limit:
            flush()
        current[name] = merged.contiguous()
        size += nbytes
    flush()

    weight_map = {}
    for k, (part, names) in enumerate(shards):
        final = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        os.replace(os.path.join(args.target, part), os.path.join(args.target, final))
        for n in names:
            weight_map[n] = final
    with open(os.path.join(args.target, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(os.path.getsize(os.path.join(args.target, v))
                                                  for v in set(weight_map.values()))},
                   "weight_map": weight_map}, f, indent=2)
    for entry in sorted(os.listdir(args.delta)):
        src = os.path.join(args.delta, entry)
        if os.path.isfile(src) and not entry.endswith(WEIGHT_SUFFIXES) and entry not in WEIGHT_INDEXES:
            shutil.copy2(src, os.path.join(args.target, entry))
    config_path = os.path.join(args.target, "config.json")
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
        config["torch_dtype"] = args.dtype
        with open(config_path, "w") as f:
            json.dump(config, f, indent=2)
    note = f" ({len(skipped)} rotary inv_freq buffers the base lacks skipped)" if skipped else ""
    print(f"apply_gpt4roi_delta: {len(weight_map)} tensors in {len(shards)} shard(s) -> {args.target}{note}")


if __name__ == "__main__":
    main()
