"""Writes a small random LLaMA base and GPT4RoI-style delta for the delta-merge test.

usage: delta_fixture.py OUT_DIR
OUT_DIR/base: LLaMA layout (2 torch .bin shards + pytorch_model.bin.index.json), vocab 10.
OUT_DIR/delta: 2 .bin shards + index; embed_tokens / lm_head with 16 rows (6 added tokens),
  model.mm_projector.* and model.spi_module.* that the base lacks, rotary inv_freq buffers in
  both (as transformers 4.29 saved them), config.json and tokenizer files to be copied.
OUT_DIR/base_no_inv_freq: the base without the rotary buffers (a base converted without them).
OUT_DIR/bad_shape: the delta with one layer weight of the wrong shape.
OUT_DIR/bad_name: the delta with a tensor the base lacks outside mm_projector / spi_module.
"""
import json
import os
import shutil
import sys

import torch


def write(dir_, sd):
    os.makedirs(dir_, exist_ok=True)
    keys = sorted(sd)
    half = len(keys) // 2
    weight_map = {}
    for i, part in enumerate((keys[:half], keys[half:])):
        name = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch.save({k: sd[k] for k in part}, os.path.join(dir_, name))
        weight_map.update({k: name for k in part})
    with open(os.path.join(dir_, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)


def main():
    out = sys.argv[1]
    g = torch.Generator().manual_seed(4)
    r = lambda *s: torch.randn(*s, generator=g)
    base = {"model.embed_tokens.weight": r(10, 8), "lm_head.weight": r(10, 8), "model.norm.weight": r(8)}
    for i in range(2):
        for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
            base[f"model.layers.{i}.self_attn.{p}.weight"] = r(8, 8)
        base[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.rand(2, generator=g)
        base[f"model.layers.{i}.input_layernorm.weight"] = r(8)
    delta = {k: 0.01 * r(*v.shape) for k, v in base.items()}
    delta["model.embed_tokens.weight"] = r(16, 8)
    delta["lm_head.weight"] = r(16, 8)
    delta["model.mm_projector.weight"], delta["model.mm_projector.bias"] = r(8, 6), r(8)
    delta["model.spi_module.roi_align.updims.weight"] = r(8, 5)
    delta["model.spi_module.mlvl_fuse.fuse_convs.0.conv.weight"] = r(6, 6, 3, 3)
    write(os.path.join(out, "base"), base)
    write(os.path.join(out, "delta"), delta)
    for name in ("config.json", "tokenizer.model", "added_tokens.json"):
        with open(os.path.join(out, "delta", name), "w") as f:
            f.write(json.dumps({"architectures": ["SPILlavaMPTForCausalLM"], "torch_dtype": "float16"})
                    if name == "config.json" else name)
    write(os.path.join(out, "base_no_inv_freq"), {k: v for k, v in base.items() if not k.endswith("inv_freq")})
    bad = dict(delta)
    bad["model.layers.1.self_attn.k_proj.weight"] = r(8, 7)
    write(os.path.join(out, "bad_shape"), bad)
    bad = dict(delta)
    bad["model.vision_tower.extra.weight"] = r(3)
    write(os.path.join(out, "bad_name"), bad)


if __name__ == "__main__":
    main()
