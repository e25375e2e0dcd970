"""Reference for the multimodal projector, built the way LLaVA/Osprey build `mm_projector`.

Usage: projector_reference.py OUT_FILE

For each type in ("mlp2x_gelu", "linear") writes, under `<type>.`: the projector's weights
with the checkpoint key names (`<type>.model.mm_projector.{0,2}.*` or `...mm_projector.*`),
`input.features` [2, C, h, w] and `expected.tokens` [2, h*w, out] computed as Osprey does
(feature map flattened row-major: `flatten(2).transpose(1, 2)`, then the projector).
"""
import sys

import torch
from safetensors.torch import save_file

IN_DIM, OUT_DIM, H, W = 24, 40, 3, 5


def build(kind: str) -> torch.nn.Module:
    if kind == "linear":
        return torch.nn.Linear(IN_DIM, OUT_DIM)
    return torch.nn.Sequential(torch.nn.Linear(IN_DIM, OUT_DIM), torch.nn.GELU(),
                               torch.nn.Linear(OUT_DIM, OUT_DIM))


def main() -> None:
    torch.manual_seed(7)
    tensors = {}
    for kind in ("mlp2x_gelu", "linear"):
        projector = build(kind)
        features = torch.randn(2, IN_DIM, H, W)
        with torch.no_grad():
            tokens = projector(features.flatten(2).transpose(1, 2))
        for name, value in projector.state_dict().items():
            tensors[f"{kind}.model.mm_projector.{name}"] = value.contiguous()
        tensors[f"{kind}.input.features"] = features
        tensors[f"{kind}.expected.tokens"] = tokens.contiguous()
    save_file(tensors, sys.argv[1])


if __name__ == "__main__":
    main()
