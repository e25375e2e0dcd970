"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) — small valid inputs of each
input class, so the fuzzer starts from the real formats. Run with the project venv:
    .venv/bin/python fuzz/make_seeds.py
The outputs are committed; rerunning rewrites them."""
import base64
import io
import json
import pathlib
import struct
import zipfile

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"


def put(target: str, name: str, data) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def safetensors(tensors: dict, metadata=None) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
                 torch.uint8: "U8", torch.bool: "BOOL"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def image(fmt: str, mode: str = "RGB", size=(8, 6), **kwargs) -> bytes:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    a = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(a[..., 0] if channels == 1 else a, mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def main() -> None:
    torch.manual_seed(0)
    small = {"w": torch.randn(3, 4), "b": torch.randn(4).half(), "ids": torch.arange(5)}
    put("safetensors", "small.safetensors", safetensors(small, {"format": "pt"}))
    put("safetensors", "bf16-empty.safetensors",
        safetensors({"x": torch.randn(2, 2).bfloat16(), "e": torch.zeros(0, 3), "flag": torch.tensor([True])}))

    state = {"model": {"layer.weight": torch.randn(2, 3), "layer.bias": torch.zeros(3).bfloat16()}, "epoch": 3}
    put("torch_checkpoint", "nested.bin", torch_save(state))
    base = torch.randn(4, 4)
    put("torch_checkpoint", "views.bin", torch_save({"t": base.t(), "row": base[1], "p": torch.nn.Parameter(base)}))
    for name in ("nested.bin", "views.bin"):
        with zipfile.ZipFile(CORPUS / "torch_checkpoint" / name) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            put("unpickler", name.replace(".bin", ".pkl"), z.read(pkl))

    put("config", "tiny-shapes.json", (ROOT.parent / "models/tiny-shapes/config.json").read_text())
    put("config", "llama.json", json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32002, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "rope_scaling": {"type": "linear", "factor": 2.0}, "mm_projector_type": "linear",
        "mm_vision_tower": "openai/clip-vit-large-patch14"}))
    put("config", "clip.json", json.dumps({
        "model_type": "clip", "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3,
                                                "num_attention_heads": 4, "image_size": 56, "patch_size": 14,
                                                "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu"}}))
    put("config", "sam_config.json", json.dumps({
        "encoder": "vit", "encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
        "encoder_global_attn_indexes": [2, 5, 8, 11], "window_size": 14, "image_size": 1024}))

    for i, (n, flags, text) in enumerate([
            (2, 0x80, "Is <region1> left of <region2>?"),
            (1, 0x01, "What is <region>? Answer in one word."),
            (3, 0xC8, "first <mask><pos>\x1eIt is a red circle.\x1eand <region2>, <region3>?"),
            (0, 0x02, "ü 日本 \U0001F600 region1 <regionX> <pos>"),
            (4, 0x10, "<region4><region1><region3><region2>")]):
        put("prompt", f"seed{i}", bytes([n, flags]) + text.encode())

    mask = np.zeros((6, 5), np.uint8)
    mask[2:5, 1:4] = 1
    from pycocotools import mask as coco_mask
    rle = coco_mask.encode(np.asfortranarray(mask))
    counts = rle["counts"].decode()
    put("coco_regions", "rle.json", json.dumps({"size": [6, 5], "counts": counts}))
    put("coco_regions", "annotations.json", json.dumps([
        {"id": 1, "segmentation": [[1, 1, 4, 1, 4, 5], [0, 0, 2, 0, 0, 2]], "bbox": [0, 0, 4, 5]},
        {"id": 2, "segmentation": {"size": [6, 5], "counts": [11, 3, 3, 3, 3, 3, 4]}}]))
    put("coco_regions", "raw-rle", b"R" + bytes([5, 4]) + counts.encode())

    put("image", "rgb.png", image("PNG"))
    put("image", "gray.png", image("PNG", "L"))
    put("image", "rgba.png", image("PNG", "RGBA"))
    put("image", "rgb.jpg", image("JPEG", quality=80))
    put("image", "progressive.jpg", image("JPEG", progressive=True))
    put("image", "rgb.bmp", image("BMP"))

    url = "data:image/png;base64," + base64.b64encode(image("PNG")).decode()
    mask_png = base64.b64encode(image("PNG", "L", size=(64, 48))).decode()
    put("server_request", "chat.json", json.dumps({
        "model": "osprey", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": "What is <region1>?"}]},
            {"role": "assistant", "content": "A circle."},
            {"role": "user", "content": "And <region2>?"}],
        "regions": [{"mask": {"size": [6, 8], "counts": [3, 5, 40]}}, {"box": [1, 1, 5, 4]}],
        "max_tokens": 16, "temperature": 0.5, "top_p": 0.9, "top_k": 4, "seed": 7, "stop": ["\n"],
        "stream": True, "stream_options": {"include_usage": True}}))
    put("server_request", "describe.json", json.dumps({
        "image": url, "regions": [{"points": [[2, 3, 1], [4, 4, 0]]}, {"scribble": [[1, 1], [5, 4]]},
                                  {"mask_png": mask_png}, {"mask": {"size": [6, 8], "counts": "32<"}}],
        "prompt": "Describe <region>.", "max_completion_tokens": 8}))
    put("server_request", "segment.json", json.dumps({
        "image": url, "points": [[3, 2]], "box": [0, 0, 7, 5], "scribble": [[1, 1], [2, 2]], "multimask": False}))


if __name__ == "__main__":
    main()
