"""Writes checkpoints with the reference writers (torch.save, safetensors) for the C++ readers.

Usage: write_checkpoints.py OUT_DIR
Creates in OUT_DIR:
  all_dtypes.safetensors      every dtype, one file (safetensors.torch.save_file)
  all_dtypes.bin              the same tensors plus strided views, one torch.save zip
  sharded_bin/                pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
  sharded_safetensors/        model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json
  expected.json               name -> {dtype, shape, hex of the row-major bytes}, per file set
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file


def dtype_tensors():
    g = torch.Generator().manual_seed(1234)
    floats = torch.randn(3, 5, generator=g, dtype=torch.float64) * 100
    floats[0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0], dtype=torch.float64)
    out = {
        "f64": floats.clone(),
        "f32": floats.float(),
        "f16": floats.half(),
        "bf16": floats.bfloat16(),
        "f8_e4m3": (floats[1:] / 10).to(torch.float8_e4m3fn),
        "f8_e5m2": (floats[1:] / 10).to(torch.float8_e5m2),
        "i64": torch.tensor([[-(2**63), 2**63 - 1, 0], [1, -1, 123456789012345]], dtype=torch.int64),
        "i32": torch.randint(-(2**31), 2**31 - 1, (2, 3, 4), generator=g, dtype=torch.int32),
        "i16": torch.tensor([-(2**15), 2**15 - 1, 7], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 0, 5], dtype=torch.int8),
        "u8": torch.arange(256, dtype=torch.uint8).reshape(16, 16),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16),
        "u32": torch.tensor([0, 1, 2**32 - 1], dtype=torch.uint32),
        "u64": torch.tensor([0, 1, 2**64 - 1], dtype=torch.uint64),
        "bool": torch.rand(4, 7, generator=g) > 0.5,
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 8, generator=g).bfloat16(),
    }
    return out


def describe(tensors):
    return {
        name: {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "hex": t.contiguous().view(torch.uint8).numpy().tobytes().hex()
            if t.dim() > 0
            else t.reshape(1).contiguous().view(torch.uint8).numpy().tobytes().hex(),
        }
        for name, t in tensors.items()
    }


def write_sharded(directory, tensors, stem, ext, writer):
    os.makedirs(directory, exist_ok=True)
    names = sorted(tensors)
    halves = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, part in enumerate(halves):
        shard = f"{stem}-{i + 1:05d}-of-00002.{ext}"
        writer({n: tensors[n] for n in part}, os.path.join(directory, shard))
        weight_map.update({n: shard for n in part})
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    with open(os.path.join(directory, f"{stem}.{ext}.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tensors = dtype_tensors()
    save_file(tensors, os.path.join(out, "all_dtypes.safetensors"), metadata={"format": "pt", "note": "regionlm"})

    # torch.save keeps views: a transposed matrix, a column slice with an offset, and two
    # tensors sharing one storage.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    bin_tensors = dict(tensors)
    bin_tensors["view.transposed"] = base.t()
    bin_tensors["view.sliced"] = base[1:3, 2:5]
    bin_tensors["view.base"] = base
    bin_tensors["param"] = torch.nn.Parameter(torch.linspace(-1, 1, 5))
    torch.save(bin_tensors, os.path.join(out, "all_dtypes.bin"))
    # A module state dict (OrderedDict with _metadata), protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL).
    linear = torch.nn.Linear(3, 2)
    torch.save(linear.state_dict(), os.path.join(out, "linear_p4.bin"), pickle_protocol=4)

    write_sharded(os.path.join(out, "sharded_bin"), tensors, "pytorch_model", "bin",
                  lambda d, p: torch.save(d, p))
    write_sharded(os.path.join(out, "sharded_safetensors"), tensors, "model", "safetensors",
                  lambda d, p: save_file(d, p))

    expected = {
        "tensors": describe(tensors),
        "bin_extra": describe({k: v.detach() for k, v in bin_tensors.items() if k not in tensors}),
        "linear": describe({k: v for k, v in linear.state_dict().items()}),
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
