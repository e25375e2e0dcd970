"""Reference side of the SAM parity tests: segment-anything 1.0 and mobilesam-mirror 1.0.0.

Usage:
  sam_reference.py model KIND OUT_DIR [--config]
      Builds a SAM of the given KIND with random weights (every parameter and buffer drawn,
      none left at its default) and saves the state dict as OUT_DIR/sam.pth in the official
      key layout. --config also writes OUT_DIR/sam_config.json with the build parameters.
  sam_reference.py predict MODEL_DIR KIND IMAGE.png OUT.safetensors
      Runs SamPredictor on the image with a fixed list of prompts and writes the image
      embedding and, for each case, the prompt, the low-res logits, IoU predictions and
      full-resolution logits.
  sam_reference.py amg MODEL_DIR KIND IMAGE.png OUT.safetensors [JSON_OPTIONS]
      SamAutomaticMaskGenerator (defaults, updated with the JSON options) on the image; writes
      every record (masks [N, H, W] uint8, bbox, area, predicted_iou, point_coords,
      stability_score, crop_box) in the generator's order, and the time it took.
  sam_reference.py resize OUT.safetensors
      ResizeLongestSide.apply_image on images of many sizes (the Pillow bilinear path).

KINDs: vit-small (ViT, width 64, 4 blocks, window 5, image 160, prompt width 64),
vit-b (the official ViT-B build, full size), tiny-small (TinyViT with narrow stages at 1024,
MobileSAM's fixed image size and 256-wide prompt path).
"""
import json
import math
import os
import sys
from functools import partial

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

CONFIGS = {
    "vit-small": dict(encoder="vit", encoder_embed_dim=64, encoder_depth=4, encoder_num_heads=4,
                      encoder_global_attn_indexes=[1, 3], window_size=5, image_size=160,
                      vit_patch_size=16, prompt_embed_dim=64),
    "vit-b": dict(encoder="vit", encoder_embed_dim=768, encoder_depth=12, encoder_num_heads=12,
                  encoder_global_attn_indexes=[2, 5, 8, 11], window_size=14, image_size=1024,
                  vit_patch_size=16, prompt_embed_dim=256),
    # vit-small with a decoder tuned for "segment everything": confident, sharp masks that
    # pass SamAutomaticMaskGenerator's default IoU/stability thresholds (see tune_for_amg).
    "vit-amg": dict(encoder="vit", encoder_embed_dim=64, encoder_depth=4, encoder_num_heads=4,
                    encoder_global_attn_indexes=[1, 3], window_size=5, image_size=160,
                    vit_patch_size=16, prompt_embed_dim=64),
    "tiny-small": dict(encoder="tiny_vit", embed_dims=[16, 24, 32, 320], depths=[1, 1, 2, 1],
                       num_heads=[1, 2, 2, 4], window_sizes=[7, 7, 14, 7], image_size=1024,
                       prompt_embed_dim=256),
}


def build(kind):
    cfg = CONFIGS[kind]
    if cfg["encoder"] == "vit":
        from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                               TwoWayTransformer)
        encoder = ImageEncoderViT(
            depth=cfg["encoder_depth"], embed_dim=cfg["encoder_embed_dim"], img_size=cfg["image_size"],
            mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=cfg["encoder_num_heads"], patch_size=cfg["vit_patch_size"], qkv_bias=True,
            use_rel_pos=True, global_attn_indexes=cfg["encoder_global_attn_indexes"],
            window_size=cfg["window_size"], out_chans=cfg["prompt_embed_dim"])
    else:
        from mobile_sam.modeling import (MaskDecoder, PromptEncoder, Sam, TinyViT,
                                         TwoWayTransformer)
        encoder = TinyViT(img_size=cfg["image_size"], in_chans=3, num_classes=1000,
                          embed_dims=cfg["embed_dims"], depths=cfg["depths"],
                          num_heads=cfg["num_heads"], window_sizes=cfg["window_sizes"],
                          mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
                          mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)
    p = cfg["prompt_embed_dim"]
    e = cfg["image_size"] // 16
    sam = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(embed_dim=p, image_embedding_size=(e, e),
                                     input_image_size=(cfg["image_size"], cfg["image_size"]),
                                     mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=p, mlp_dim=2048,
                                                               num_heads=8),
                                 transformer_dim=p, iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    return sam, cfg


def randomize(sam, seed):
    """Draws every tensor of the state dict: weights around their default scale, norms and
    biases away from their 1/0 defaults, BatchNorm statistics plausible, and the logits of
    the decoder large enough that masks have edges (a real decision boundary)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in sam.state_dict().items():
            if not t.is_floating_point():
                continue
            shape = t.shape
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(shape, generator=g))
            elif t.dim() == 1 and ("norm" in name or ".bn." in name or "neck.1" in name or "neck.3" in name
                                   or "output_upscaling.1" in name or "mask_downscaling.1" in name
                                   or "mask_downscaling.4" in name):
                if name.endswith("weight"):
                    t.copy_(1.0 + 0.2 * torch.randn(shape, generator=g))
                else:
                    t.copy_(0.1 * torch.randn(shape, generator=g))
            elif name.endswith("bias"):
                t.copy_(0.05 * torch.randn(shape, generator=g))
            elif "rel_pos" in name or "attention_biases" in name or name.endswith("pos_embed"):
                t.copy_(0.2 * torch.randn(shape, generator=g))
            elif "positional_encoding_gaussian_matrix" in name or t.dim() == 2 and "embed" in name and "weight" in name \
                    or name.endswith("tokens.weight") or name.endswith("iou_token.weight"):
                t.copy_(torch.randn(shape, generator=g))
            else:
                fan_in = max(1, t[0].numel())
                t.copy_(torch.randn(shape, generator=g) / math.sqrt(fan_in))
        # Mask logits: scale the hypernetwork output so masks are confident away from edges.
        for mlp in sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(8.0)


def tune_for_amg(sam):
    """Random decoders give soft masks (stability ~0.5) and low IoU estimates, so the default
    thresholds reject everything. Sharpen the logits, keep the upscaled features away from
    GELU's flat zero, raise the IoU estimate and let the image attend sharply to the point."""
    with torch.no_grad():
        d = sam.mask_decoder
        for mlp in d.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(5.0)  # on top of randomize's 8: logits of a few hundred
        d.output_upscaling[1].bias.add_(3.0)
        d.output_upscaling[3].bias.add_(2.0)
        d.iou_prediction_head.layers[-1].bias.add_(0.5)
        a = d.transformer.layers[-1].cross_attn_image_to_token
        a.q_proj.weight.mul_(4.0)
        a.k_proj.weight.mul_(4.0)
        a.v_proj.weight.mul_(3.0)
        sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.mul_(4.0)


def make_model(kind, out_dir, with_config):
    os.makedirs(out_dir, exist_ok=True)
    sam, cfg = build(kind)
    randomize(sam, seed=1234 if kind != "tiny-small" else 99)
    if kind == "vit-amg":
        tune_for_amg(sam)
    torch.save(sam.state_dict(), os.path.join(out_dir, "sam.pth"))
    if with_config:
        with open(os.path.join(out_dir, "sam_config.json"), "w") as f:
            json.dump(cfg, f)


def load(model_dir, kind):
    sam, _ = build(kind)
    state = torch.load(os.path.join(model_dir, "sam.pth"), map_location="cpu")
    sam.load_state_dict(state)
    sam.eval()  # after loading: TinyViT caches its attention biases here
    return sam


def cases(h, w, low_res):
    """Prompts in original-image pixels. Each: points [N, 2], labels [N], box [4] or None,
    mask_from (index of an earlier case whose first low-res output is the mask input) or -1,
    multimask."""
    out = []
    out.append(dict(points=[[w * 0.4, h * 0.5]], labels=[1], box=None, mask_from=-1, multimask=True))
    out.append(dict(points=[[w * 0.4, h * 0.5]], labels=[1], box=None, mask_from=-1, multimask=False))
    out.append(dict(points=[[w * 0.3, h * 0.3], [w * 0.7, h * 0.6], [w * 0.5, h * 0.8]], labels=[1, 0, 1],
                    box=None, mask_from=-1, multimask=True))
    out.append(dict(points=[[w * 0.6, h * 0.2]], labels=[0], box=None, mask_from=-1, multimask=True))
    out.append(dict(points=None, labels=None, box=[w * 0.1, h * 0.2, w * 0.6, h * 0.9], mask_from=-1,
                    multimask=False))
    out.append(dict(points=[[w * 0.3, h * 0.5], [w * 0.5, h * 0.4]], labels=[1, 0],
                    box=[w * 0.1, h * 0.2, w * 0.6, h * 0.9], mask_from=-1, multimask=True))
    out.append(dict(points=[[w * 0.4, h * 0.5]], labels=[1], box=None, mask_from=0, multimask=False))
    out.append(dict(points=None, labels=None, box=None, mask_from=2, multimask=True))
    out.append(dict(points=[[0, 0], [w - 1, h - 1]], labels=[1, 1], box=None, mask_from=-1, multimask=True))
    return out


BATCH_BOXES = lambda h, w: [[w * 0.1, h * 0.1, w * 0.5, h * 0.5], [w * 0.3, h * 0.2, w * 0.9, h * 0.7],
                            [0, 0, w, h], [w * 0.45, h * 0.45, w * 0.55, h * 0.55]]


def predict(model_dir, kind, image_path, out_path):
    if CONFIGS[kind]["encoder"] == "vit":
        from segment_anything import SamPredictor
    else:
        from mobile_sam import SamPredictor
    torch.set_num_threads(int(os.environ.get("REGIONLM_REFERENCE_THREADS", "2")))
    sam = load(model_dir, kind)
    predictor = SamPredictor(sam)
    image = np.array(Image.open(image_path).convert("RGB"))
    h, w = image.shape[:2]
    import time
    start = time.perf_counter()
    predictor.set_image(image)
    encode_seconds = time.perf_counter() - start
    tensors = {"embedding": predictor.get_image_embedding().contiguous(),
               "input_size": torch.tensor(predictor.input_size, dtype=torch.int64)}
    outputs = []
    low_res = 4 * (CONFIGS[kind]["image_size"] // 16)
    for i, c in enumerate(cases(h, w, low_res)):
        kwargs = {}
        if c["points"] is not None:
            kwargs["point_coords"] = np.array(c["points"], dtype=np.float64)
            kwargs["point_labels"] = np.array(c["labels"], dtype=np.int64)
            tensors[f"case{i}.points"] = torch.tensor(c["points"], dtype=torch.float64)
            tensors[f"case{i}.labels"] = torch.tensor(c["labels"], dtype=torch.int32)
        if c["box"] is not None:
            kwargs["box"] = np.array(c["box"], dtype=np.float64)
            tensors[f"case{i}.box"] = torch.tensor(c["box"], dtype=torch.float64)
        if c["mask_from"] >= 0:
            mask_input = outputs[c["mask_from"]][2][:1]  # [1, L, L]
            kwargs["mask_input"] = mask_input
            tensors[f"case{i}.mask_input"] = torch.from_numpy(np.ascontiguousarray(mask_input))
        tensors[f"case{i}.multimask"] = torch.tensor([int(c["multimask"])], dtype=torch.int32)
        logits, iou, low = predictor.predict(multimask_output=c["multimask"], return_logits=True, **kwargs)
        outputs.append((logits, iou, low))
        tensors[f"case{i}.logits"] = torch.from_numpy(logits)
        tensors[f"case{i}.iou"] = torch.from_numpy(iou)
        tensors[f"case{i}.low_res"] = torch.from_numpy(low)
    # Refinement (regionlm's Sam::best_mask with one pass): the best of three candidates for a
    # click, its low-res logits fed back with the same click, single-mask output.
    click = {"point_coords": np.array([[w * 0.35, h * 0.55]]), "point_labels": np.array([1])}
    _, iou, low = predictor.predict(multimask_output=True, return_logits=True, **click)
    logits, iou, low = predictor.predict(mask_input=low[int(np.argmax(iou))][None], multimask_output=False,
                                         return_logits=True, **click)
    tensors["refined.points"] = torch.tensor(click["point_coords"], dtype=torch.float64)
    tensors["refined.labels"] = torch.tensor(click["point_labels"], dtype=torch.int32)
    tensors["refined.logits"] = torch.from_numpy(logits)
    tensors["refined.iou"] = torch.from_numpy(iou)
    tensors["refined.low_res"] = torch.from_numpy(low)
    # Batched boxes: one decoder call for four boxes.
    boxes = torch.tensor(BATCH_BOXES(h, w), dtype=torch.float64)
    tb = predictor.transform.apply_boxes_torch(boxes, (h, w)).float()
    start = time.perf_counter()
    masks, iou, low = predictor.predict_torch(None, None, boxes=tb, multimask_output=True, return_logits=True)
    batch_seconds = time.perf_counter() - start
    # Timings of the decoder alone: one point prompt, and 64 single-point prompts in one call.
    start = time.perf_counter()
    predictor.predict(point_coords=np.array([[w * 0.4, h * 0.5]]), point_labels=np.array([1]))
    one_seconds = time.perf_counter() - start
    grid = np.stack(np.meshgrid(np.linspace(0.05, 0.95, 8) * w, np.linspace(0.05, 0.95, 8) * h), -1).reshape(-1, 2)
    tp = torch.as_tensor(predictor.transform.apply_coords(grid, (h, w)), dtype=torch.float)[:, None, :]
    start = time.perf_counter()
    predictor.predict_torch(tp, torch.ones(64, 1, dtype=torch.int))
    batch64_seconds = time.perf_counter() - start
    tensors["batch64.points"] = torch.from_numpy(grid.copy())
    tensors["batch.boxes"] = boxes
    tensors["batch.logits"] = masks.contiguous()
    tensors["batch.iou"] = iou.contiguous()
    tensors["batch.low_res"] = low.contiguous()
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_path,
              metadata={"cases": str(len(outputs)), "encode_seconds": repr(encode_seconds),
                        "batch_seconds": repr(batch_seconds), "one_seconds": repr(one_seconds),
                        "batch64_seconds": repr(batch64_seconds)})


def amg(model_dir, kind, image_path, out_path, options_json="{}"):
    import time
    if CONFIGS[kind]["encoder"] == "vit":
        from segment_anything import SamAutomaticMaskGenerator
    else:
        from mobile_sam import SamAutomaticMaskGenerator
    torch.set_num_threads(int(os.environ.get("REGIONLM_REFERENCE_THREADS", "2")))
    sam = load(model_dir, kind)
    generator = SamAutomaticMaskGenerator(sam, **json.loads(options_json))
    image = np.array(Image.open(image_path).convert("RGB"))
    start = time.perf_counter()
    records = generator.generate(image)
    elapsed = time.perf_counter() - start
    h, w = image.shape[:2]
    n = len(records)
    tensors = {
        "masks": torch.from_numpy(np.stack([r["segmentation"] for r in records]).astype(np.uint8)) if n
        else torch.zeros((0, h, w), dtype=torch.uint8),
        "bbox": torch.tensor([r["bbox"] for r in records], dtype=torch.float64).reshape(n, 4),
        "area": torch.tensor([r["area"] for r in records], dtype=torch.int64),
        "predicted_iou": torch.tensor([r["predicted_iou"] for r in records], dtype=torch.float64),
        "point_coords": torch.tensor([r["point_coords"][0] for r in records], dtype=torch.float64).reshape(n, 2),
        "stability_score": torch.tensor([r["stability_score"] for r in records], dtype=torch.float64),
        "crop_box": torch.tensor([r["crop_box"] for r in records], dtype=torch.float64).reshape(n, 4),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_path, metadata={"seconds": repr(elapsed)})


def resize_cases(out_path):
    from segment_anything.utils.transforms import ResizeLongestSide
    rng = np.random.default_rng(7)
    tensors = {}
    sizes = [(200, 320, 160), (97, 150, 160), (480, 640, 1024), (1, 5, 64), (333, 127, 256), (64, 64, 64),
             (1000, 999, 1024), (31, 400, 96), (900, 300, 256), (700, 340, 160)]
    for i, (h, w, target) in enumerate(sizes):
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = ((xx * 5 + yy * 3) % 256).astype(np.uint8)[..., None].repeat(3, axis=2)
        image = np.where((xx < w // 2)[..., None], noise, ramp)
        out = ResizeLongestSide(target).apply_image(image)
        tensors[f"case{i}.input"] = torch.from_numpy(np.ascontiguousarray(image))
        tensors[f"case{i}.expected"] = torch.from_numpy(np.ascontiguousarray(out))
        tensors[f"case{i}.target"] = torch.tensor([target])
    save_file(tensors, out_path)


def main():
    cmd = sys.argv[1]
    if cmd == "model":
        make_model(sys.argv[2], sys.argv[3], "--config" in sys.argv[4:])
    elif cmd == "predict":
        predict(*sys.argv[2:6])
    elif cmd == "amg":
        amg(*sys.argv[2:7])
    elif cmd == "resize":
        resize_cases(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
