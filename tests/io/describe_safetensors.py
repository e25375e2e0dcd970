"""Prints {"tensors": name -> {dtype, shape, hex}, "metadata": {...}} of a safetensors file,
read with the reference `safetensors` package (checks files regionlm writes)."""
import json
import sys

import torch
from safetensors import safe_open


def main():
    out = {"tensors": {}}
    with safe_open(sys.argv[1], framework="pt") as f:
        out["metadata"] = f.metadata()
        for name in f.keys():
            t = f.get_tensor(name)
            raw = t.reshape(-1).contiguous().view(torch.uint8) if t.numel() else torch.zeros(0, dtype=torch.uint8)
            out["tensors"][name] = {
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "hex": raw.numpy().tobytes().hex(),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
