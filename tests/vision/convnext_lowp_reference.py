"""PyTorch (timm 0.6.13 ConvNeXt) outputs of a convnext-* fixture in reduced precision.

Usage: convnext_lowp_reference.py FIXTURE OUT_FILE

Loads the fixture's `visual.trunk.*` weights into timm's ConvNeXt, converts model and inputs
to bfloat16 and to float16 (CPU), and writes `<dtype>.pixels{j}.res{2..5}` (stored in that
dtype) for every `input.pixels{j}`: the same kernels LibTorch runs, so a faithful C++ port
lands on (nearly) the same low-precision values.
"""
import copy
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from timm.models.convnext import ConvNeXt

PREFIX = "visual.trunk."


def main() -> None:
    fixture, out = sys.argv[1], sys.argv[2]
    with safe_open(fixture, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = ConvNeXt(depths=json.loads(meta["depths"]), dims=json.loads(meta["dims"]),
                     num_classes=0, global_pool="")
    state = {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
    model.load_state_dict(state, strict=True)
    model.eval()
    results = {}
    inputs = sorted(k for k in tensors if k.startswith("input.pixels"))
    for dtype_name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        typed = copy.deepcopy(model).to(dtype)  # from the float32 weights each time
        for key in inputs:
            name = key[len("input."):]
            with torch.no_grad():
                x = typed.stem(tensors[key].to(dtype))
                for i, stage in enumerate(typed.stages):
                    x = stage(x)
                    results[f"{dtype_name}.{name}.res{i + 2}"] = x.contiguous()
    save_file(results, out)


if __name__ == "__main__":
    main()
