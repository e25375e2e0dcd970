"""The Python side of scripts/bench_compare.sh: Osprey's own way of answering, timed on the
workloads that bench_compare.cpp times on the library, with the very same checkpoint.

The reference is tests/pipeline/osprey_reference.py (transformers 4.31 LLaMA, timm ConvNeXt,
Osprey's glue; checked against the shared fixtures by the parity tests). Like Osprey's demo
and evaluation scripts it runs every question from the start: vision, mask extraction, a
prefill of the whole conversation, then greedy decoding with the KV cache.

usage:
  bench_compare_reference.py DIR --build          writes DIR/osprey (mid-size random Osprey,
                                                   official layout), DIR/scene.png, DIR/mask*.png
  bench_compare_reference.py DIR [--threads N] [--repeats R] [--new-tokens T] [--json OUT]

The model: decoder hidden 512, 8 layers, 8 heads, MLP 1376 (25 M parameters), ConvNeXt
32..256 channels at 512 px -> 32 x 32 = 1024 image tokens (Osprey-7B's count), the sizes of
tests/bench/bench_describe_each.cpp.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pipeline"))
import osprey_reference as ref  # noqa: E402
import tiny_osprey  # noqa: E402

SHORT = "Please give me a short description of <mask><pos>. Using a short phrase."
QUESTIONS = [  # the three questions about one image (region 0)
    SHORT,
    "What is the color of <mask><pos>? Answer briefly.",
    "Where is <mask><pos> in the picture?",
]
CHAT = [  # (question, regions it names in order) of the 3-turn chat over regions 0 and 1
    ("Is <mask><pos> left of <mask><pos>?", [0, 1]),
    ("What is in <mask><pos>? Using a short phrase.", [1]),
    ("And what is <mask><pos>?", [0]),
]
NUM_REGIONS = 8


def build(root):
    """Mid-size random checkpoint + a 640 x 480 scene with 8 masks."""
    tiny_osprey.VISION = dict(depths=[1, 1, 1, 1], dims=[32, 64, 128, 256], layer_norm_eps=1e-6,
                              image_size=512, token_level=2)
    tiny_osprey.EXTRACTOR = dict(embed_dim=256, mask_shape=112)
    tiny_osprey.DECODER = dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
                               num_attention_heads=8, num_key_value_heads=8,
                               max_position_embeddings=2048, rms_norm_eps=1e-5)
    os.makedirs(root, exist_ok=True)
    main_dir, _ = tiny_osprey.build_checkpoints(root)
    h, w = 480, 640
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / 23.0) * np.cos(yy / 31.0),
                    128 + 90 * np.cos((xx + yy) / 29.0),
                    128 + 80 * np.sin(yy / 17.0)], axis=-1) + rng.normal(0, 12, (h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(os.path.join(root, "scene.png"))
    for k in range(NUM_REGIONS):  # discs and boxes on a 4 x 2 grid
        cy, cx = 120 + 240 * (k // 4), 80 + 160 * (k % 4)
        if k % 2 == 0:
            m = (yy - cy) ** 2 + (xx - cx) ** 2 <= (40 + 5 * k) ** 2
        else:
            m = (abs(yy - cy) <= 35 + 4 * k) & (abs(xx - cx) <= 60)
        Image.fromarray(m.astype(np.uint8) * 255, "L").save(os.path.join(root, f"mask{k}.png"))
    print(f"wrote {main_dir}, {root}/scene.png and {NUM_REGIONS} masks")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Reference:
    def __init__(self, model, image, masks, new_tokens):
        self.model, self.image, self.masks, self.new_tokens = model, image, masks, new_tokens

    def ask(self, history, question, order, regions):
        """One question from the start, as Osprey answers it: vision + masks, whole prompt."""
        image_tokens, mask_tokens, pos_tokens = self.model.encode(self.image, [self.masks[r] for r in regions])
        user = (ref.IMAGE_PREFIX if not history else "") + question
        ids = ref.tokenizer_image_token(ref.conversation(history + [(user, None)]), self.model.tokenizer)
        embeds = self.model.embed(ids, image_tokens, mask_tokens, pos_tokens, order)
        tokens, _ = self.model.greedy(embeds, self.new_tokens)
        return user, tokens

    def one_region(self):
        return [self.ask([], SHORT, [0], [0])[1]]

    def eight_regions(self):
        return [self.ask([], SHORT, [0], [r])[1] for r in range(NUM_REGIONS)]

    def three_questions(self):
        return [self.ask([], q, [0], [0])[1] for q in QUESTIONS]

    def chat(self):
        history, order, out = [], [], []
        for question, names in CHAT:
            order = order + names
            user, tokens = self.ask(history, question, order, [0, 1])
            out.append(tokens)
            history.append((user, self.model.answer_text(tokens)))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.build:
        build(a.dir)
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    start = time.perf_counter()
    model = ref.Osprey(os.path.join(a.dir, "osprey"))
    load_ms = 1e3 * (time.perf_counter() - start)
    bench = Reference(model, os.path.join(a.dir, "scene.png"),
                      [os.path.join(a.dir, f"mask{k}.png") for k in range(NUM_REGIONS)], a.new_tokens)
    bench.one_region()  # warm-up (allocator, lazy initialisation), as the C++ side does
    result = dict(side="reference", threads=torch.get_num_threads(), new_tokens=a.new_tokens,
                  load_ms=load_ms, workloads={})
    for name in ("one_region", "eight_regions", "three_questions", "chat"):
        times, tokens = [], None
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            tokens = getattr(bench, name)()
            times.append(1e3 * (time.perf_counter() - t0))
        result["workloads"][name] = dict(ms=statistics.median(times), all_ms=times, tokens=tokens)
        print(f"reference {name}: {statistics.median(times):.0f} ms", file=sys.stderr)
    result["peak_rss_mib"] = peak_rss_mib()
    text = json.dumps(result)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
