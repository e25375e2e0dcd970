"""Builds a small random GPT4RoI-architecture model in the layout the release uses, and the
reference GPT4RoI pipeline the C++ tests compare with.

Layout: `clip/` is a Hugging Face CLIPVisionModel directory (config.json + pytorch_model.bin,
keys `vision_model.*`, as openai/clip-vit-large-patch14 stores them); `gpt4roi/` holds
config.json (architectures SPILlavaMPTForCausalLM, mm_* keys, mm_vision_tower = "../clip"),
sharded torch `.bin` weights with pytorch_model.bin.index.json (LLaMA + model.mm_projector +
model.spi_module, no CLIP weights) and the tokenizer saved by transformers after GPT4RoI's
token additions ([PAD], <im_patch>, <bbox>, <point>, <im_start>, <im_end> after the
SentencePiece vocabulary).

Only widths are small. The CLIP tower keeps 224 px, patch 14 (a 16 x 16 grid, which the
original asserts) and has 10 layers, the fewest for which GPT4RoI's layer rule
(hidden_states[-2::-3], reversed, last 4) still yields 4 levels: 0, 3, 6, 9.

The reference pipeline is transformers' CLIPImageProcessor, CLIPVisionModel and
LlamaForCausalLM, torchvision's roi_align, and the GPT4RoI glue written from
../shared/spec/gpt4roi.md (not GPT4RoI's code).
"""
import io
import json
import math
import os
import re
import sys
import types

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
import torchvision
import transformers.convert_slow_tokenizer as convert_slow
from PIL import Image
from transformers import (AutoTokenizer, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel,
                          LlamaConfig, LlamaForCausalLM)
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
torch.set_num_threads(1)

SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
FIRST_PREFIX = "The <image> provides an overview of the picture.\n"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=10, num_attention_heads=4,
            image_size=224, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5)
SPI = dict(num_levels=4, num_fuse=5, gn_groups=8, roi_output_size=14, sampling_ratio=2,
           query_dims=40, pos_hidden_dims=16)
DECODER = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=4, max_position_embeddings=1024, rms_norm_eps=1e-6)
SP_VOCAB = 420
ADDED = ["[PAD]", "<im_patch>", "<bbox>", "<point>", "<im_start>", "<im_end>"]
SELECT_LAYER = -2


# ---------------------------------------------------------------- tokenizer
def _corpus():
    words = ("the a of and in on with left right top bottom red green blue yellow small large "
             "person dog cat car tree sky road building window door table chair cup man woman "
             "child shirt hat bag wall floor grass water boat bird horse bike sign light region "
             "picture image part object near behind front next to under over between detailed "
             "description what is are there this that provides overview human assistant why "
             "can you give me region1 region2 region3 doing color").split()
    rng = np.random.default_rng(11)
    lines = [SYSTEM, "### Human: hello\n### Assistant: hi", FIRST_PREFIX,
             "Can you provide me with a detailed description of the region in the picture marked by region1?",
             "What is region1 doing?", "Is region1 left of region2?", "Why?"]
    for _ in range(3000):
        n = int(rng.integers(3, 12))
        lines.append(" ".join(rng.choice(words, n)) + rng.choice([".", "?", "", ",", ":"]))
    return lines


def train_tokenizer(out_dir):
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()), model_writer=buf, vocab_size=SP_VOCAB,
        model_type="bpe", byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        allow_whitespace_only_pieces=True, num_threads=1, minloglevel=2)
    with open(os.path.join(out_dir, "tokenizer.model"), "wb") as f:
        f.write(buf.getvalue())
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


def _sentencepiece_proto_module():
    """Stand-in for the protobuf module transformers uses to read tokenizer.model when it
    builds the fast tokenizer (protobuf is not installed here)."""
    class ModelProto:
        def ParseFromString(self, data):
            sp = spm.SentencePieceProcessor(model_proto=data)
            self.pieces = [types.SimpleNamespace(piece=sp.id_to_piece(i), score=sp.get_score(i))
                           for i in range(sp.get_piece_size())]
            self.trainer_spec = types.SimpleNamespace(
                model_type=2, unk_piece=sp.id_to_piece(sp.unk_id()), byte_fallback=True)
    return types.SimpleNamespace(ModelProto=ModelProto)


def _allow_conversion():
    convert_slow.import_protobuf = _sentencepiece_proto_module
    convert_slow.requires_backends = lambda *args, **kwargs: None


def make_tokenizer_dir(out_dir):
    """GPT4RoI's training setup: a LLaMA tokenizer, pad token [PAD] added as a special token,
    then <im_patch>, <bbox>/<point>, <im_start>/<im_end> as special tokens; saved by
    save_pretrained (tokenizer.json, added_tokens.json, ...), as the release ships it."""
    sp = train_tokenizer(out_dir)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": 2048,
                   "tokenizer_class": "LlamaTokenizer", "clean_up_tokenization_spaces": False,
                   "legacy": True}, f)
    _allow_conversion()
    tok = AutoTokenizer.from_pretrained(out_dir, use_fast=True)
    tok.add_special_tokens({"pad_token": "[PAD]"})
    tok.add_tokens(["<im_patch>"], special_tokens=True)
    tok.add_tokens(["<bbox>", "<point>"], special_tokens=True)
    tok.add_tokens(["<im_start>", "<im_end>"], special_tokens=True)
    ids = tok.convert_tokens_to_ids(ADDED)
    assert ids == list(range(SP_VOCAB, SP_VOCAB + 6)), ids
    tok.save_pretrained(out_dir)
    return sp


def load_tokenizer(model_dir):
    """As GPT4RoI's app loads it: AutoTokenizer (fast, from tokenizer.json), then the
    add_tokens calls of app.py (no-ops: the tokens exist)."""
    _allow_conversion()
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert type(tok).__name__ == "LlamaTokenizerFast", type(tok).__name__
    tok.add_tokens(["<im_patch>"], special_tokens=True)
    tok.add_tokens(["<im_start>", "<im_end>"], special_tokens=True)
    tok.add_tokens(["<bbox>", "<point>"], special_tokens=True)
    return tok


# ---------------------------------------------------------------- random weights
def _rand_linear(gen, out_f, in_f, bias=True):
    w = torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)
    return (w, 0.1 * torch.randn(out_f, generator=gen)) if bias else (w, None)


def build_clip(gen):
    cfg = CLIPVisionConfig(**CLIP)
    model = CLIPVisionModel(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    return model


def build_spi(gen, c, hidden):
    """model.spi_module.* weights (names from the spec's checkpoint key list)."""
    sd, pre = {}, "model.spi_module."
    o, q, ph = SPI["roi_output_size"], SPI["query_dims"], SPI["pos_hidden_dims"]
    for l in range(SPI["num_levels"]):
        sd[f"{pre}mlvl_fuse.input_conv.{l}.weight"] = torch.randn(c, c + 2, 1, 1, generator=gen) / math.sqrt(c + 2)
        sd[f"{pre}mlvl_fuse.input_conv.{l}.bias"] = 0.1 * torch.randn(c, generator=gen)
        sd[f"{pre}roi_align.pconvs.{l}.weight"] = torch.randn(c, c, 3, 3, generator=gen) / math.sqrt(9 * c)
        sd[f"{pre}roi_align.pconvs.{l}.bias"] = 0.1 * torch.randn(c, generator=gen)
    for i in range(SPI["num_fuse"]):
        sd[f"{pre}mlvl_fuse.fuse_convs.{i}.conv.weight"] = torch.randn(c, c, 3, 3, generator=gen) / math.sqrt(9 * c)
        sd[f"{pre}mlvl_fuse.fuse_convs.{i}.gn.weight"] = 1.0 + 0.1 * torch.randn(c, generator=gen)
        sd[f"{pre}mlvl_fuse.fuse_convs.{i}.gn.bias"] = 0.1 * torch.randn(c, generator=gen)
    pe = pre + "roi_align.pos_embedd."
    sd[pe + "0.weight"], sd[pe + "0.bias"] = _rand_linear(gen, ph, 4)
    sd[pe + "2.weight"], sd[pe + "2.bias"] = 1.0 + 0.1 * torch.randn(ph, generator=gen), 0.1 * torch.randn(ph, generator=gen)
    sd[pe + "3.weight"], sd[pe + "3.bias"] = _rand_linear(gen, q, ph)
    sd[pe + "5.weight"], sd[pe + "5.bias"] = 1.0 + 0.1 * torch.randn(q, generator=gen), 0.1 * torch.randn(q, generator=gen)
    sd[pre + "roi_align.flatten_linear.weight"], sd[pre + "roi_align.flatten_linear.bias"] = _rand_linear(gen, q, c * o * o)
    # Region features several times the scale of a token embedding: answers depend on them.
    w, b = _rand_linear(gen, hidden, q)
    sd[pre + "roi_align.updims.weight"], sd[pre + "roi_align.updims.bias"] = 3.0 * w, b
    return sd


def build_decoder(gen, vocab, sp):
    cfg = LlamaConfig(vocab_size=vocab, **DECODER)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name == "lm_head.weight":
                # Logits of std ~2 keep greedy decoding free of near-ties; control, byte and
                # added tokens get zero rows so that answers decode to plain text.
                w = 2.0 * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1])
                for i in range(vocab):
                    if i >= SP_VOCAB or (i != 2 and (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))):
                        w[i] = 0.0
                p.copy_(w)
            elif "q_proj" in name or "k_proj" in name:
                p.copy_(2.0 * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
    return model.eval(), cfg


def write_shards(out_dir, sd, num_shards=2):
    keys = sorted(sd)
    per = math.ceil(len(keys) / num_shards)
    weight_map, total = {}, 0
    for s in range(num_shards):
        name = f"pytorch_model-{s + 1:05d}-of-{num_shards:05d}.bin"
        part = {k: sd[k].contiguous() for k in keys[s * per:(s + 1) * per]}
        torch.save(part, os.path.join(out_dir, name))
        for k, v in part.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(out_dir, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def build_model(root, seed=0):
    """Writes root/clip and root/gpt4roi; returns their paths."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clip_dir, model_dir = os.path.join(root, "clip"), os.path.join(root, "gpt4roi")
    os.makedirs(clip_dir, exist_ok=True)
    os.makedirs(model_dir, exist_ok=True)
    clip = build_clip(gen)
    clip.save_pretrained(clip_dir, safe_serialization=False)

    sp = make_tokenizer_dir(model_dir)
    vocab = SP_VOCAB + len(ADDED)
    decoder, cfg = build_decoder(gen, vocab, sp)
    sd = dict(decoder.state_dict())
    w, b = _rand_linear(gen, cfg.hidden_size, CLIP["hidden_size"])
    sd["model.mm_projector.weight"], sd["model.mm_projector.bias"] = w, b
    sd.update(build_spi(gen, CLIP["hidden_size"], cfg.hidden_size))
    write_shards(model_dir, sd)
    config = {k: v for k, v in cfg.to_dict().items() if k not in ("transformers_version",)}
    config.update({
        "_name_or_path": "tiny-gpt4roi-random", "architectures": ["SPILlavaMPTForCausalLM"],
        "model_type": "llava", "mm_vision_tower": "../clip", "mm_vision_select_layer": SELECT_LAYER,
        "mm_hidden_size": CLIP["hidden_size"], "mm_use_im_start_end": True,
        "sep_image_conv_front": False, "tune_mm_mlp_adapter": False, "use_mm_proj": True,
        "torch_dtype": "float32", "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
        "spi_module_config": SPI,
    })
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return clip_dir, model_dir


def build_scene(out_dir, height=150, width=200, seed=3):
    """A non-square RGB image (PNG)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0),
                    128 + 90 * np.cos((xx + 2 * yy) / 11.0),
                    128 + 80 * np.sin(yy / 7.0 + xx / 23.0)], axis=-1) + rng.normal(0, 14, (height, width, 3))
    path = os.path.join(out_dir, "scene.png")
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(path)
    return path


# ---------------------------------------------------------------- reference pipeline (spec)
def preprocess(image_path, size):
    """spec A.3: CLIPImageProcessor (shortest side, bicubic, rescale, normalise, no crop),
    then a bilinear squash to size x size."""
    proc = CLIPImageProcessor(size={"shortest_edge": size}, crop_size=size, image_mean=CLIP_MEAN,
                              image_std=CLIP_STD, resample=3)
    image = Image.open(image_path).convert("RGB")
    pixels = proc.preprocess(image, do_center_crop=False, return_tensors="pt")["pixel_values"]
    return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)


def layer_indices(num_layers, select_layer, num_levels):
    states = list(range(num_layers + 1))
    regions = states[select_layer::-3][::-1][-num_levels:]
    return states[select_layer], regions


class SpiReference:
    """MLVLROIQueryModule from the spec (A.1), torchvision's roi_align."""

    def __init__(self, sd, clip_cfg, spi):
        self.w = {k[len("model.spi_module."):]: v.float() for k, v in sd.items()
                  if k.startswith("model.spi_module.")}
        self.c, self.spi = clip_cfg["hidden_size"], spi
        self.grid = clip_cfg["image_size"] // clip_cfg["patch_size"]
        self.image_size, self.patch = clip_cfg["image_size"], clip_cfg["patch_size"]

    def fused(self, tokens):
        w, L, g, c = self.w, self.spi["num_levels"], self.grid, self.c
        feats = [t.reshape(1, g, g, c).permute(0, 3, 1, 2) for t in tokens]
        feats = [F.interpolate(f, size=(g * 2 ** (L - 1 - l),) * 2, mode="bilinear", align_corners=True)
                 for l, f in enumerate(feats)]
        x = []
        for l, f in enumerate(feats):
            h, wd = f.shape[-2:]
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, wd), indexing="ij")
            f = torch.cat([f, xx[None, None], yy[None, None]], 1)
            x.append(F.conv2d(f, w[f"mlvl_fuse.input_conv.{l}.weight"], w[f"mlvl_fuse.input_conv.{l}.bias"]))
        s = c // 4
        r = c - 2 * s
        for i in range(self.spi["num_fuse"]):
            new = []
            for l in range(L):
                top, down = x[min(l + 1, L - 1)], x[max(l - 1, 0)]
                size = x[l].shape[-2:]
                new.append(torch.cat([
                    x[l][:, :r],
                    F.interpolate(top[:, r + s:], size=size, mode="bilinear", align_corners=True),
                    F.interpolate(down[:, r:r + s], size=size, mode="bilinear", align_corners=True)], 1))
            x = [F.relu(F.group_norm(F.conv2d(t, w[f"mlvl_fuse.fuse_convs.{i}.conv.weight"], padding=1),
                                     self.spi["gn_groups"], w[f"mlvl_fuse.fuse_convs.{i}.gn.weight"],
                                     w[f"mlvl_fuse.fuse_convs.{i}.gn.bias"], 1e-5)) for t in new]
        return x

    def __call__(self, tokens, boxes01):
        w, L, o = self.w, self.spi["num_levels"], self.spi["roi_output_size"]
        levels = self.fused(tokens)
        boxes01 = boxes01.float()
        rois = torch.cat([torch.zeros(len(boxes01), 1), boxes01 * self.image_size], 1)
        total = 0
        for l in range(L):
            stride = self.patch / 2 ** (L - 1 - l)
            pooled = torchvision.ops.roi_align(levels[l], rois, output_size=o, spatial_scale=1 / stride,
                                               sampling_ratio=self.spi["sampling_ratio"], aligned=True)
            total = total + F.conv2d(pooled, w[f"roi_align.pconvs.{l}.weight"], w[f"roi_align.pconvs.{l}.bias"],
                                     padding=1)
        flat = F.linear(F.relu(total).flatten(1), w["roi_align.flatten_linear.weight"],
                        w["roi_align.flatten_linear.bias"])
        p = "roi_align.pos_embedd."
        pos = F.layer_norm(F.relu(F.linear(boxes01, w[p + "0.weight"], w[p + "0.bias"])),
                           (self.spi["pos_hidden_dims"],), w[p + "2.weight"], w[p + "2.bias"])
        pos = F.layer_norm(F.relu(F.linear(pos, w[p + "3.weight"], w[p + "3.bias"])),
                           (self.spi["query_dims"],), w[p + "5.weight"], w[p + "5.bias"])
        return F.linear(flat + pos, w["roi_align.updims.weight"], w["roi_align.updims.bias"])


def rewrite_question(text, seen):
    """spec A.2 with regionlm's rule for repeats: the first mention of region K in the whole
    conversation becomes `regionK <bbox>`, later ones plain `regionK`. Returns the text and
    the 0-based regions of its <bbox> tokens in order."""
    order = []

    def sub(m):
        k = int(m.group(1))
        if k in seen:
            return f"region{k}"
        seen.add(k)
        order.append(k - 1)
        return f"region{k} <bbox>"
    return re.sub(r"<region(\d+)>", sub, text), order


def conversation(turns, image_tokens):
    """conv_v1_2 through the legacy `preprocess`: system + "\\n\\n", "### Role: text\\n" per
    turn, then "### "; <image> -> <im_start> + <im_patch> * n + <im_end>."""
    text = SYSTEM + "\n\n"
    for user, assistant in turns:
        text += "### Human: " + user + "\n"
        if assistant is not None:
            text += "### Assistant: " + assistant + "\n"
    text += "### "
    return text.replace("<image>", "<im_start>" + "<im_patch>" * image_tokens + "<im_end>")


class Gpt4roiReference:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        clip_dir = os.path.normpath(os.path.join(model_dir, self.config["mm_vision_tower"]))
        self.clip = CLIPVisionModel.from_pretrained(clip_dir).eval()
        with open(os.path.join(model_dir, "pytorch_model.bin.index.json")) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for s in shards:
            sd.update(torch.load(os.path.join(model_dir, s), map_location="cpu"))
        self.projector = (sd["model.mm_projector.weight"].float(), sd["model.mm_projector.bias"].float())
        self.spi = SpiReference(sd, self.clip.config.to_dict(), self.config["spi_module_config"])
        llama_cfg = LlamaConfig(**{k: v for k, v in self.config.items() if k in LlamaConfig().to_dict()
                                   or k in DECODER or k == "vocab_size"})
        self.decoder = LlamaForCausalLM(llama_cfg).eval()
        dec = {k: v for k, v in sd.items() if k.startswith("lm_head.") or
               (k.startswith("model.") and not k.startswith("model.mm_projector.")
                and not k.startswith("model.spi_module."))}
        missing, unexpected = self.decoder.load_state_dict(dec, strict=False)
        assert not missing and not unexpected, (missing, unexpected)
        self.tokenizer = load_tokenizer(model_dir)
        ids = self.tokenizer.convert_tokens_to_ids(["<im_patch>", "<bbox>", "<im_start>", "<im_end>"])
        self.patch_id, self.bbox_id, self.start_id, self.end_id = ids
        self.size = self.clip.config.image_size

    @torch.no_grad()
    def encode(self, image_path, boxes_px):
        pixels = preprocess(image_path, self.size)
        out = self.clip(pixels, output_hidden_states=True)
        img_idx, region_idx = layer_indices(self.clip.config.num_hidden_layers, self.config["mm_vision_select_layer"],
                                            self.spi.spi["num_levels"])
        image_tokens = F.linear(out.hidden_states[img_idx][0, 1:], *self.projector)
        width, height = Image.open(image_path).size
        boxes01 = torch.tensor(boxes_px, dtype=torch.float64) / torch.tensor([width, height, width, height],
                                                                             dtype=torch.float64)
        tokens = [out.hidden_states[i][:, 1:] for i in region_idx]
        region = self.spi(tokens, boxes01.float()) if len(boxes_px) else torch.zeros(0, self.projector[0].shape[0])
        return dict(pixels=pixels, hidden_states=out.hidden_states, image_tokens=image_tokens,
                    region_features=region, boxes01=boxes01.float())

    @torch.no_grad()
    def embed(self, ids, image_tokens, region_features, order):
        ids_t = torch.tensor(ids)
        e = self.decoder.model.embed_tokens.weight[ids_t].clone()
        patches = (ids_t == self.patch_id).nonzero().flatten()
        assert len(patches) == len(image_tokens)
        e[patches] = image_tokens
        boxes = (ids_t == self.bbox_id).nonzero().flatten()
        assert len(boxes) == len(order), (len(boxes), order)
        for k, pos in enumerate(boxes):
            e[pos] = region_features[order[k]]
        return e[None]

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
            if "###" in self.tokenizer.decode(tokens, skip_special_tokens=True):
                break
            out = self.decoder(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            logits, past = out.logits[0, -1], out.past_key_values
        return tokens, logits0

    def answer_text(self, tokens):
        """app.py: decode, strip, drop a trailing stop string, strip, remove 'Assistant:'."""
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if "###" in text:
            text = text[:text.index("###")]
        text = text.strip()
        return text.replace("Assistant: ", "").replace("Assistant:", "")
