"""Reference Osprey pipeline for the C++ end-to-end parity tests.

Built from transformers' LlamaForCausalLM (4.31, the version Osprey used), timm 0.6.13's
ConvNeXt (the class open_clip wraps) and the Osprey glue written from
../shared/spec/osprey.md: Pillow-bicubic preprocessing, mask-aware extractor, projector,
`tokenizer_image_token`, `<mask><pos>` splicing, the `osprey_v1` template, greedy decoding,
and the tokenizer Osprey loads (transformers' LlamaTokenizerFast).
The glue is first checked against the shared fixtures (computed by the original code), so a
mismatch in the C++ comparison points at the C++ side.

usage: osprey_reference.py OUT_DIR [--fixtures DIR]
writes OUT_DIR/{osprey,osprey-clipfile}/ (checkpoints), scene.png, mask{0,1,2}.png,
cases.json (the cases and reference answers; paths relative to OUT_DIR) and reference.safetensors (token ids, first-step
logits, prompt ids, image/mask/position tokens).
"""
import argparse
import glob
import json
import os
import sys

import types

import numpy as np
import sentencepiece as spm
import torch
import transformers.convert_slow_tokenizer as convert_slow
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from timm.models.convnext import ConvNeXt
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_osprey  # noqa: E402

hf_logging.set_verbosity_error()
torch.set_num_threads(1)

IMAGE_TOKEN_INDEX = -200  # LLaVA's placeholder id for the image block
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGE_PREFIX = "<image>\n\nThis provides an overview of the picture.\n"
SHORT = "Please give me a short description of <mask><pos>. Using a short phrase."
VISION_PREFIX = "model.vision_tower.vision_tower.visual.trunk."


# ---------------------------------------------------------------- glue (spec §1-5)
def preprocess(image, size):
    """spec §1: RGB, short side to `size` with Pillow BICUBIC, /255, normalise, bilinear
    stretch to size x size."""
    image = image.convert("RGB")
    w, h = image.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    resized = image.resize((new_w, new_h), Image.BICUBIC)
    u8 = np.asarray(resized)
    x = torch.from_numpy(u8.copy()).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    x = (x - mean) / std
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)
    return u8, x


def trunk_features(trunk, pixels):
    """spec §2: the four stage outputs res2..res5."""
    x = trunk.stem(pixels)
    outs = []
    for stage in trunk.stages:
        x = stage(x)
        outs.append(x)
    return outs


def mask_extractor(w, feats, masks, vision_dtype, mask_shape):
    """spec §4, in float32. `w` maps `mask_extractor.*` names to float32 tensors."""
    q = masks.shape[0]
    m = masks[:, None].float()
    total = 0
    for level, f in zip(range(2, 6), feats):
        mb = (F.interpolate(m, size=f.shape[-2:], mode="bilinear", align_corners=False) > 0)
        mb = mb.float()  # [Q, 1, h, w]
        f32 = f.float()  # [1, C, h, w]
        pooled = (f32 * mb).sum(dim=(-1, -2)) / (mb.sum(dim=(-1, -2)) + 1e-8)  # [Q, C]
        y = F.linear(pooled, w[f"mask_extractor.res{level}.weight"],
                     w[f"mask_extractor.res{level}.bias"])
        total = total + y.to(vision_dtype).float()
    mask_tokens = F.linear(total, w["mask_extractor.feat_linear.weight"],
                           w["mask_extractor.feat_linear.bias"])
    pos = F.interpolate(m, size=(mask_shape, mask_shape), mode="bilinear",
                        align_corners=False).reshape(q, -1)
    for i in range(3):
        pos = F.linear(pos, w[f"mask_extractor.mask_linear.layers.{i}.weight"],
                       w[f"mask_extractor.mask_linear.layers.{i}.bias"])
        if i < 2:
            pos = F.relu(pos)
    return mask_tokens, pos


def conversation(turns):
    """osprey_v1 (SeparatorStyle.TWO): system, ' USER: q ASSISTANT: a</s>USER: ...'."""
    ret = tiny_osprey.SYSTEM + " "
    for user, assistant in turns:
        ret += "USER: " + user + " "
        ret += "ASSISTANT:" if assistant is None else "ASSISTANT: " + assistant + "</s>"
    return ret


def tokenizer_image_token(prompt, tokenizer):
    """LLaVA's: each `<image>`-separated chunk tokenized alone, BOS only at the start."""
    chunks = [tokenizer(c).input_ids for c in prompt.split("<image>")]
    ids, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    for i, c in enumerate(chunks):
        if i > 0:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(c[offset:])
    return ids


def _sentencepiece_proto_module():
    """Stand-in for the protobuf module transformers uses to read tokenizer.model when it
    converts it to a fast tokenizer (protobuf is not installed here). LlamaConverter reads
    only the pieces with their scores and the trainer spec; sentencepiece provides both."""
    class ModelProto:
        def ParseFromString(self, data):
            sp = spm.SentencePieceProcessor(model_proto=data)
            self.pieces = [types.SimpleNamespace(piece=sp.id_to_piece(i), score=sp.get_score(i))
                           for i in range(sp.get_piece_size())]
            self.trainer_spec = types.SimpleNamespace(
                model_type=2, unk_piece=sp.id_to_piece(sp.unk_id()), byte_fallback=True)
    return types.SimpleNamespace(ModelProto=ModelProto)


def load_tokenizer(model_dir):
    """The tokenizer exactly as Osprey's inference code loads it (demo/osprey_inference.py):
    LlamaTokenizerFast (use_fast=True), then <mask>/<pos> added as special tokens."""
    convert_slow.import_protobuf = _sentencepiece_proto_module
    convert_slow.requires_backends = lambda *args, **kwargs: None
    tokenizer = AutoTokenizer.from_pretrained(model_dir, model_max_length=2048,
                                              padding_side="right", use_fast=True)
    tokenizer.add_tokens(["<mask>", "<pos>"], special_tokens=True)
    assert type(tokenizer).__name__ == "LlamaTokenizerFast"
    return tokenizer


# ---------------------------------------------------------------- the model
class Osprey:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        with open(os.path.join(model_dir, "pytorch_model.bin.index.json")) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for s in shards:
            sd.update(torch.load(os.path.join(model_dir, s), map_location="cpu"))
        sd = {k: v.float() for k, v in sd.items()}

        vc = self.config["vision_config"]
        self.image_size = vc["image_size"]
        self.token_level = vc["token_level"]
        self.mask_shape = self.config["mask_extractor_config"]["mask_shape"]
        self.trunk = ConvNeXt(depths=vc["depths"], dims=vc["dims"], num_classes=0,
                              global_pool="", ls_init_value=1.0).eval()
        if any(k.startswith(VISION_PREFIX) for k in sd):
            trunk_sd = {k[len(VISION_PREFIX):]: v for k, v in sd.items() if k.startswith(VISION_PREFIX)}
        else:
            clip = torch.load(os.path.join(model_dir, self.config["mm_vision_tower"]),
                              map_location="cpu")
            trunk_sd = {k[len("visual.trunk."):]: v.float() for k, v in clip.items()
                        if k.startswith("visual.trunk.")}
        self.trunk.load_state_dict(trunk_sd, strict=True)

        self.glue = {k: v for k, v in sd.items()
                     if k.startswith("mask_extractor.") or k.startswith("model.mm_projector.")}
        llama_cfg = LlamaConfig(**{k: v for k, v in self.config.items()
                                   if k not in ("vision_config", "mask_extractor_config",
                                                "model_type", "architectures")})
        self.decoder = LlamaForCausalLM(llama_cfg).eval()
        dec_sd = {k: v for k, v in sd.items() if k.startswith("lm_head.") or
                  (k.startswith("model.") and not k.startswith("model.mm_projector.")
                   and not k.startswith("model.vision_tower."))}
        missing, unexpected = self.decoder.load_state_dict(dec_sd, strict=False)
        assert not missing and not unexpected, (missing, unexpected)

        self.tokenizer = load_tokenizer(model_dir)
        self.mask_id = self.tokenizer.convert_tokens_to_ids("<mask>")
        self.pos_id = self.tokenizer.convert_tokens_to_ids("<pos>")
        assert (self.mask_id, self.pos_id) == (llama_cfg.vocab_size, llama_cfg.vocab_size + 1)

    @torch.no_grad()
    def encode(self, image_path, mask_paths):
        _, pixels = preprocess(Image.open(image_path), self.image_size)
        feats = trunk_features(self.trunk, pixels)
        tokens = feats[self.token_level].flatten(2).transpose(1, 2)[0]  # [N, C]
        g = self.glue
        h = F.linear(tokens, g["model.mm_projector.0.weight"], g["model.mm_projector.0.bias"])
        image_tokens = F.linear(F.gelu(h), g["model.mm_projector.2.weight"],
                                g["model.mm_projector.2.bias"])
        masks = torch.stack([torch.from_numpy((np.asarray(Image.open(p).convert("L")) > 0)
                                              .astype(np.uint8)) for p in mask_paths])
        mask_tokens, pos_tokens = mask_extractor(g, feats, masks, torch.float32, self.mask_shape)
        return image_tokens, mask_tokens, pos_tokens

    @torch.no_grad()
    def embed(self, ids, image_tokens, mask_tokens, pos_tokens, order):
        """Splices the image block and each `<mask><pos>` pair (the k-th pair gets region
        order[k]); the added ids themselves are never embedded."""
        embed = self.decoder.model.embed_tokens
        rows, k_mask, k_pos = [], 0, 0
        for t in ids:
            if t == IMAGE_TOKEN_INDEX:
                rows.extend(image_tokens)
            elif t == self.mask_id:
                rows.append(mask_tokens[order[k_mask]])
                k_mask += 1
            elif t == self.pos_id:
                rows.append(pos_tokens[order[k_pos]])
                k_pos += 1
            else:
                rows.append(embed.weight[t])
        assert k_mask == k_pos == len(order), (k_mask, k_pos, order)
        return torch.stack(rows)[None]

    @torch.no_grad()
    def greedy(self, embeds, max_new_tokens):
        out = self.decoder(inputs_embeds=embeds, use_cache=True)
        logits0 = out.logits[0, -1].clone()
        logits, past, tokens = out.logits[0, -1], out.past_key_values, []
        for _ in range(max_new_tokens):
            nxt = int(logits.argmax())
            tokens.append(nxt)
            if nxt == self.tokenizer.eos_token_id:
                break
            out = self.decoder(input_ids=torch.tensor([[nxt]]), past_key_values=past,
                               use_cache=True)
            logits, past = out.logits[0, -1], out.past_key_values
        return tokens, logits0

    def answer_text(self, tokens):
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()


# ---------------------------------------------------------------- self-check
def check_fixtures(fixtures):
    """The glue above must reproduce the fixtures computed by the original code."""
    def load(path):
        with safe_open(path, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()

    checked = 0
    for path in sorted(glob.glob(os.path.join(fixtures, "preprocess-*.safetensors"))):
        t, meta = load(path)
        u8, pixels = preprocess(Image.open(os.path.join(fixtures, meta["source"])), 512)
        assert np.array_equal(u8, t["expected.resized_uint8"].numpy()), path
        assert (pixels - t["expected.pixels"]).abs().max() < 1e-5, path
        checked += 1
    for path in sorted(glob.glob(os.path.join(fixtures, "convnext-*.safetensors"))):
        t, meta = load(path)
        trunk = ConvNeXt(depths=json.loads(meta["depths"]), dims=json.loads(meta["dims"]),
                         num_classes=0, global_pool="", ls_init_value=1.0).eval()
        trunk.load_state_dict({k[len("visual.trunk."):]: v for k, v in t.items()
                               if k.startswith("visual.trunk.")})
        j = 0
        while f"input.pixels{j}" in t:
            with torch.no_grad():
                outs = trunk_features(trunk, t[f"input.pixels{j}"])
            for level, o in zip(range(2, 6), outs):
                assert (o - t[f"expected.pixels{j}.res{level}"]).abs().max() < 1e-4, path
            j += 1
        checked += 1
    for path in sorted(glob.glob(os.path.join(fixtures, "extractor-*.safetensors"))):
        t, meta = load(path)
        dtype = torch.bfloat16 if meta["feature_dtype"] == "bfloat16" else torch.float32
        feats = [t[f"input.res{level}"] for level in range(2, 6)]
        mt, pt = mask_extractor(t, feats, t["input.masks"], dtype, int(meta["mask_shape"]))
        tol = 1e-2 if dtype == torch.bfloat16 else 1e-4
        assert (mt - t["expected.mask_tokens"]).abs().max() < tol, path
        assert (pt - t["expected.pos_tokens"]).abs().max() < tol, path
        checked += 1
    if checked == 0:
        raise SystemExit(f"no fixtures found in {fixtures}")
    return checked


# ---------------------------------------------------------------- cases
def cases():
    """Prompts as users write them (`prompt`, `<region>` forms) and as Osprey receives them
    (`osprey`, `<mask><pos>` pairs, pair k taking region `order[k]` of `regions`).
    `regions` index the scene's masks."""
    three = "Ther are 3 part regions in the picture: region1<mask><pos>,region2<mask><pos>,region3<mask><pos>. What is in region2?"
    out = []
    for r in range(3):
        out.append(dict(name=f"short{r}", regions=[r], order=[0],
                        prompt="Please give me a short description of <region>. Using a short phrase.",
                        osprey=SHORT))
    out.append(dict(name="three_regions", regions=[0, 1, 2], order=[0, 1, 2],
                    prompt="Ther are 3 part regions in the picture: region1<region>,region2<region>,region3<region>. What is in region2?",
                    osprey=three))
    out.append(dict(name="repeated", regions=[2, 0], order=[0, 1, 0],
                    prompt="Is <region1> left of <region2>? And what color is <region1>?",
                    osprey="Is <mask><pos> left of <mask><pos>? And what color is <mask><pos>?"))
    out.append(dict(name="chat", regions=[0, 1], chat=[
        dict(prompt="Is <region1> left of <region2>?",
             osprey="Is <mask><pos> left of <mask><pos>?", order=[0, 1]),
        dict(prompt="What is in <region2>? Using a short phrase.",
             osprey="What is in <mask><pos>? Using a short phrase.", order=[1]),
    ]))
    for c in out:
        c["max_new_tokens"] = 12
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "..", "shared", "fixtures"))
    args = ap.parse_args()
    check_fixtures(args.fixtures)

    os.makedirs(args.out_dir, exist_ok=True)
    main_dir, clip_dir = tiny_osprey.build_checkpoints(args.out_dir)
    image, masks = tiny_osprey.build_scene(args.out_dir)

    model = Osprey(main_dir)
    image_tokens, mask_tokens, pos_tokens = model.encode(image, masks)
    clip_model = Osprey(clip_dir)
    clip_tokens = clip_model.encode(image, masks)[0]
    assert torch.equal(clip_tokens, image_tokens), "the two checkpoint variants differ"

    out = {"image_tokens": image_tokens, "mask_tokens": mask_tokens, "pos_tokens": pos_tokens}
    all_cases = cases()
    for case in all_cases:
        regions = case["regions"]
        mt, pt = mask_tokens[regions], pos_tokens[regions]
        turns = case.get("chat") or [dict(prompt=case["prompt"], osprey=case["osprey"],
                                          order=case["order"])]
        history, order = [], []
        for k, turn in enumerate(turns):
            user = (IMAGE_PREFIX if k == 0 else "") + turn["osprey"]
            ids = tokenizer_image_token(conversation(history + [(user, None)]), model.tokenizer)
            order = order + turn["order"]
            embeds = model.embed(ids, image_tokens, mt, pt, order)
            tokens, logits0 = model.greedy(embeds, case["max_new_tokens"])
            turn["answer"] = model.answer_text(tokens)
            key = case["name"] if "chat" not in case else f"{case['name']}.turn{k}"
            out[f"{key}.tokens"] = torch.tensor(tokens, dtype=torch.int64)
            out[f"{key}.logits0"] = logits0.float().contiguous()
            out[f"{key}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
            history.append((user, turn["answer"]))
        if "chat" not in case:
            case["answer"] = turns[0]["answer"]

    save_file({k: v.contiguous() for k, v in out.items()},
              os.path.join(args.out_dir, "reference.safetensors"))
    with open(os.path.join(args.out_dir, "cases.json"), "w") as f:
        rel = lambda p: os.path.relpath(p, args.out_dir)  # the directory may be moved
        json.dump(dict(model=rel(main_dir), model_clipfile=rel(clip_dir), image=rel(image),
                       masks=[rel(m) for m in masks], image_prefix=IMAGE_PREFIX, cases=all_cases),
                  f, indent=2)
    print(json.dumps([(c["name"], c.get("answer") or [t["answer"] for t in c["chat"]])
                      for c in all_cases]))


if __name__ == "__main__":
    main()
