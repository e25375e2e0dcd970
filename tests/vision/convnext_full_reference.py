"""Full-size ConvNeXt reference: open_clip's `convnext_large_d_320` with seeded weights.

Usage: convnext_full_reference.py OUT_DIR [IMAGE_SIZE]

Writes to OUT_DIR:
  - open_clip_pytorch_model.bin   torch.save of the visual tower's state dict in open_clip's
                                  key layout (`visual.trunk.*`, `visual.head.*`);
  - visual.safetensors            the same tensors as safetensors;
  - reference.safetensors         `input.pixels` [1, 3, S, S], `expected.res{2..5}` (the
                                  stage outputs computed the way Osprey's vision tower does:
                                  trunk.stem, then each of trunk.stages in turn) in float32
                                  and `expected_bf16.res{2..5}` with the trunk and input
                                  converted to bfloat16; metadata: depths, dims,
                                  layer_norm_eps.

Weights are seeded and realistic rather than at their training-init values: layer-scale
gamma uniform in [0.1, 1] (timm initialises it to 1e-6, which would hide every block), norm
weights around 1, small random biases.
"""
import copy
import json
import sys
import types
from pathlib import Path

import timm.models.layers
import torch
from safetensors.torch import save_file


def alias_timm_layers() -> None:
    """open_clip 2.32 imports `timm.layers` (timm >= 0.9); Osprey's timm 0.6.13 keeps the
    same Mlp/to_2tuple under `timm.models.layers`. The attention pools open_clip also imports
    exist only in newer timm and are not used by convnext_large_d_320 (pool ""): stub them
    so that using one would fail loudly."""
    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("attention pooling needs timm >= 0.9")

    shim = types.ModuleType("timm.layers")
    shim.Mlp = timm.models.layers.Mlp
    shim.to_2tuple = timm.models.layers.to_2tuple
    shim.RotAttentionPool2d = shim.AttentionPool2d = Unavailable
    sys.modules["timm.layers"] = shim


alias_timm_layers()
import open_clip  # noqa: E402  (after the alias)


def randomise(trunk: torch.nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in trunk.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "gamma":
                p.copy_(torch.rand(p.shape, generator=generator) * 0.9 + 0.1)
            elif "norm" in name or name.startswith("stem.1") or ".downsample.0." in name:
                base = 1.0 if leaf == "weight" else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=generator))
            elif leaf == "bias":
                p.copy_(0.02 * torch.randn(p.shape, generator=generator))
            else:  # conv / linear weights: fan-in scaled so activations stay in range
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)


def main() -> None:
    out = Path(sys.argv[1])
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(20240521)

    model = open_clip.create_model("convnext_large_d_320", pretrained=None)
    model.eval()
    trunk = model.visual.trunk
    randomise(trunk, generator)

    state = {"visual." + k: v.contiguous() for k, v in model.visual.state_dict().items()}
    torch.save(state, out / "open_clip_pytorch_model.bin")
    save_file(state, str(out / "visual.safetensors"))

    pixels = torch.randn(1, 3, size, size, generator=generator)
    tensors = {"input.pixels": pixels}
    with torch.no_grad():
        for prefix, dtype in (("expected", torch.float32), ("expected_bf16", torch.bfloat16)):
            typed = copy.deepcopy(trunk).to(dtype)
            x = typed.stem(pixels.to(dtype))
            for i, stage in enumerate(typed.stages):
                x = stage(x)
                tensors[f"{prefix}.res{i + 2}"] = x.contiguous()
    metadata = {
        "depths": json.dumps([len(s.blocks) for s in trunk.stages]),
        "dims": json.dumps([s.blocks[0].gamma.numel() for s in trunk.stages]),
        "layer_norm_eps": json.dumps(trunk.stem[1].eps),
    }
    save_file(tensors, str(out / "reference.safetensors"), metadata=metadata)


if __name__ == "__main__":
    main()
