"""Builds a small random Osprey-architecture checkpoint in the layout the published
checkpoints use (sharded torch `.bin` + `pytorch_model.bin.index.json`, `config.json`,
SentencePiece `tokenizer.model`, `added_tokens.json`, `tokenizer_config.json`,
`special_tokens_map.json`, `generation_config.json`), plus a test scene (image + masks).

Only the sizes are small; every key name, file name and config field is Osprey's. The
non-standard `vision_config` / `mask_extractor_config` objects carry the small widths that
Osprey hard-codes for the 7B model.
"""
import io
import json
import math
import os

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image
from timm.models.convnext import ConvNeXt
from transformers import LlamaConfig, LlamaForCausalLM

SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")

VISION = dict(depths=[1, 1, 2, 1], dims=[16, 24, 32, 40], layer_norm_eps=1e-6, image_size=64,
              token_level=2)
EXTRACTOR = dict(embed_dim=24, mask_shape=16)
DECODER = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
               rms_norm_eps=1e-5)
SP_VOCAB = 420
QK_SCALE = 2.0  # q/k weight scale: sharper attention
VISION_PREFIX = "model.vision_tower.vision_tower.visual.trunk."
CLIP_PREFIX = "visual.trunk."


def _corpus():
    """Sentences the tokenizer learns from: the template and the Osprey questions, plus
    varied English so that answers decode to words."""
    words = ("the a of and in on with left right top bottom red green blue yellow small large "
             "person dog cat car tree sky road building window door table chair cup plate man "
             "woman child shirt hat bag wall floor grass water boat bird horse bike sign light "
             "standing sitting holding wearing white black brown gray orange purple round square "
             "region picture image part object near behind front next to under over between "
             "short phrase description detailed category word what is are there this that "
             "provides overview").split()
    rng = np.random.default_rng(7)
    lines = [SYSTEM, "USER: ASSISTANT:", "This provides an overview of the picture.",
             "Please give me a short description of <mask><pos>. Using a short phrase.",
             "Can you give me a detailed description of <mask><pos>?",
             "What is the category of <mask><pos>? Using only one word or phrase.",
             "What is in <mask><pos>? Using a short phrase.",
             "Ther are 3 part regions in the picture: region1, region2, region3."]
    for _ in range(3000):
        n = int(rng.integers(3, 12))
        lines.append(" ".join(rng.choice(words, n)) + rng.choice([".", "?", "", ","]))
    return lines


def train_tokenizer(out_dir):
    """A SentencePiece BPE model with LLaMA's settings (byte fallback, split digits,
    dummy prefix, unk/bos/eos = 0/1/2, no pad)."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()), model_writer=buf, vocab_size=SP_VOCAB,
        model_type="bpe", byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        allow_whitespace_only_pieces=True, num_threads=1, minloglevel=2)
    with open(os.path.join(out_dir, "tokenizer.model"), "wb") as f:
        f.write(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    return sp


def _init_(t, std):
    with torch.no_grad():
        t.normal_(0.0, std)


def build_vision(gen):
    trunk = ConvNeXt(depths=VISION["depths"], dims=VISION["dims"], ls_init_value=0.5,
                     num_classes=0, global_pool="")
    with torch.no_grad():
        for name, p in trunk.named_parameters():
            if name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)  # realistic layer scale
            elif p.dim() == 1 and name.endswith("weight"):  # every 1-D weight is a LayerNorm's
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    return trunk


def _linear(gen, out_f, in_f):
    w = torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)
    b = 0.1 * torch.randn(out_f, generator=gen)
    return w, b


def build_glue(gen, hidden):
    """Projector (mlp2x_gelu) and mask extractor weights under Osprey's key names."""
    sd = {}
    mm_hidden = VISION["dims"][VISION["token_level"]]
    sd["model.mm_projector.0.weight"], sd["model.mm_projector.0.bias"] = _linear(gen, hidden, mm_hidden)
    sd["model.mm_projector.2.weight"], sd["model.mm_projector.2.bias"] = _linear(gen, hidden, hidden)
    e = EXTRACTOR["embed_dim"]
    for level, c in zip(range(2, 6), VISION["dims"]):
        sd[f"mask_extractor.res{level}.weight"], sd[f"mask_extractor.res{level}.bias"] = _linear(gen, e, c)
    sd["mask_extractor.feat_linear.weight"], sd["mask_extractor.feat_linear.bias"] = _linear(gen, hidden, e)
    widths = [EXTRACTOR["mask_shape"] ** 2, e, e, hidden]
    for i in range(3):
        w, b = _linear(gen, widths[i + 1], widths[i])
        sd[f"mask_extractor.mask_linear.layers.{i}.weight"] = w
        sd[f"mask_extractor.mask_linear.layers.{i}.bias"] = b
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
                # Logits of std ~2 make greedy decoding free of near-ties; rows of control
                # and byte-fallback pieces are zero so random answers stay decodable text.
                w = 2.0 * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1])
                for i in range(vocab):
                    if i != 2 and (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)):
                        w[i] = 0.0
                p.copy_(w)
            elif "q_proj" in name or "k_proj" in name:
                # Sharper attention lets the two region positions sway the answer.
                p.copy_(QK_SCALE * torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
    return model, cfg


def _round_bf16(sd):
    """Published shards are bfloat16."""
    return {k: v.detach().to(torch.bfloat16).clone().contiguous() for k, v in sd.items()}


def write_shards(out_dir, sd, num_shards=2):
    keys = sorted(sd)
    per = math.ceil(len(keys) / num_shards)
    weight_map, total = {}, 0
    for s in range(num_shards):
        name = f"pytorch_model-{s + 1:05d}-of-{num_shards:05d}.bin"
        part = {k: sd[k] for k in keys[s * per:(s + 1) * per]}
        torch.save(part, os.path.join(out_dir, name))
        for k, v in part.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(out_dir, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def write_tokenizer_files(out_dir, vocab):
    with open(os.path.join(out_dir, "added_tokens.json"), "w") as f:
        json.dump({"<mask>": vocab, "<pos>": vocab + 1}, f)
    def added(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False,
                "normalized": True, "rstrip": False, "single_word": False}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": added("<s>"),
                   "clean_up_tokenization_spaces": False, "eos_token": added("</s>"),
                   "model_max_length": 2048, "pad_token": None, "padding_side": "right",
                   "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer",
                   "unk_token": added("<unk>")}, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": added("<s>"), "eos_token": added("</s>"),
                   "pad_token": "<unk>", "unk_token": added("<unk>")}, f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
                   "transformers_version": "4.31.0"}, f, indent=2)


def write_config(out_dir, cfg, mm_vision_tower):
    config = {
        "_name_or_path": "tiny-osprey-random", "architectures": ["OspreyLlamaForCausalLM"],
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "hidden_act": "silu",
        "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
        "initializer_range": 0.02, "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_key_value_heads": cfg.num_key_value_heads, "pretraining_tp": 1,
        "rms_norm_eps": cfg.rms_norm_eps, "rope_scaling": None, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.31.0", "use_cache": True,
        "vocab_size": cfg.vocab_size, "model_type": "osprey",
        "image_aspect_ratio": "pad", "mm_hidden_size": VISION["dims"][VISION["token_level"]],
        "mm_projector_type": "mlp2x_gelu", "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False, "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2, "mm_vision_tower": mm_vision_tower,
        "freeze_mlp_adapter": False, "tune_mm_mlp_adapter": False, "use_mm_proj": True,
        "vision_config": VISION, "mask_extractor_config": EXTRACTOR,
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def build_checkpoints(root, seed=0):
    """Writes `root/osprey` (vision inside the shards) and `root/osprey-clipfile` (vision only
    in an open_clip-layout file named by mm_vision_tower, relative to the model directory).
    Both hold the same (bfloat16-rounded) weights, so they must answer identically."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    main_dir = os.path.join(root, "osprey")
    clip_dir = os.path.join(root, "osprey-clipfile")
    for d in (main_dir, clip_dir, os.path.join(clip_dir, "clip")):
        os.makedirs(d, exist_ok=True)
    sp = train_tokenizer(main_dir)
    with open(os.path.join(main_dir, "tokenizer.model"), "rb") as f:
        tok_bytes = f.read()
    with open(os.path.join(clip_dir, "tokenizer.model"), "wb") as f:
        f.write(tok_bytes)
    vocab = sp.get_piece_size()

    trunk = build_vision(gen)
    decoder, cfg = build_decoder(gen, vocab, sp)
    glue = build_glue(gen, cfg.hidden_size)

    # transformers 4.31 saves `rotary_emb.inv_freq` buffers too, as the published shards
    # do; the loader must ignore them.
    decoder_sd = dict(decoder.state_dict())
    assert any(k.endswith("rotary_emb.inv_freq") for k in decoder_sd)
    trunk_sd = trunk.state_dict()

    shards = dict(decoder_sd)
    shards.update(glue)
    with_vision = dict(shards)
    with_vision.update({VISION_PREFIX + k: v for k, v in trunk_sd.items()})
    write_shards(main_dir, _round_bf16(with_vision))
    write_shards(clip_dir, _round_bf16(shards))

    # open_clip file: float32 like the published one, same values as the bf16 shards; the
    # text tower and visual head are present and unused.
    clip_sd = {CLIP_PREFIX + k: v.to(torch.bfloat16).float().clone() for k, v in trunk_sd.items()}
    clip_sd["visual.head.mlp.fc1.weight"] = torch.randn(8, VISION["dims"][-1], generator=gen)
    clip_sd["text_projection"] = torch.randn(8, 8, generator=gen)
    clip_sd["logit_scale"] = torch.tensor(4.6)
    torch.save(clip_sd, os.path.join(clip_dir, "clip", "open_clip_pytorch_model.bin"))

    write_config(main_dir, cfg, "./does-not-exist/open_clip_pytorch_model.bin")
    write_config(clip_dir, cfg, "clip/open_clip_pytorch_model.bin")
    for d in (main_dir, clip_dir):
        write_tokenizer_files(d, vocab)
    return main_dir, clip_dir


def build_scene(out_dir, height=72, width=96, seed=1):
    """A non-square RGB image and three masks (a disc, a rectangle, a scattered blob with
    holes) at the image's resolution, as PNG files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([
        128 + 100 * np.sin(xx / 7.0) * np.cos(yy / 11.0),
        128 + 90 * np.cos((xx + yy) / 9.0),
        128 + 80 * np.sin(yy / 5.0),
    ], axis=-1) + rng.normal(0, 12, (height, width, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    Image.fromarray(img, "RGB").save(os.path.join(out_dir, "scene.png"))
    disc = ((yy - 24) ** 2 + (xx - 30) ** 2 <= 14 ** 2)
    rect = (yy >= 40) & (yy < 66) & (xx >= 50) & (xx < 90)
    blob = (((yy - 20) ** 2 + (xx - 72) ** 2 <= 16 ** 2) & (rng.random((height, width)) > 0.35))
    paths = []
    for i, m in enumerate((disc, rect, blob)):
        p = os.path.join(out_dir, f"mask{i}.png")
        Image.fromarray(m.astype(np.uint8) * 255, "L").save(p)
        paths.append(p)
    return os.path.join(out_dir, "scene.png"), paths
