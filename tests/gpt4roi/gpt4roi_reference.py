"""Reference outputs for the GPT4RoI C++ tests (tests/gpt4roi/*_test.cpp).

usage: gpt4roi_reference.py OUT_DIR
writes OUT_DIR/clip, OUT_DIR/gpt4roi (tiny_gpt4roi.build_model), scene.png, cases.json (cases,
their boxes in pixels and reference answers) and reference.safetensors:
  pixels, hidden.{0..L}                 CLIP preprocessing and every hidden state
  image_tokens                          mm_projector(hidden_states[-2][:, 1:])
  fused.{l}                             the fused pyramid of the scene
  roi.features, roi.rois, roi.{variant} torchvision.ops.roi_align on random maps
  {case}[.turn{k}].{input_ids,tokens,logits0,region_features}
"""
import json
import os
import sys

import torch
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_gpt4roi as tg  # noqa: E402

BOXES = {"a": [20, 30, 90, 110], "b": [100.5, 10.25, 190, 80], "c": [60, 70, 180, 140],
         "whole": [0, 0, 200, 150], "left_edge": [0, 40, 60, 150], "corner": [150, 0, 200, 35]}


def cases():
    out = [
        dict(name="one", boxes=["a"], turns=["What is <region1> doing?"]),
        # With "one": the rows of describe_each over boxes a, b, c.
        dict(name="each_b", boxes=["b"], turns=["What is <region1> doing?"]),
        dict(name="each_c", boxes=["c"], turns=["What is <region1> doing?"]),
        dict(name="three", boxes=["a", "b", "c"],
             turns=["Could you please give me a detailed description of these areas "
                    "<region1>,<region2>,<region3>?"]),
        dict(name="repeated", boxes=["b", "a"],
             turns=["Is <region1> left of <region2>? And what color is <region1>?"]),
        dict(name="border", boxes=["whole", "left_edge", "corner"],
             turns=["What is in <region1>, <region2> and <region3>?"]),
        dict(name="chat", boxes=["a", "c"],
             turns=["What is <region1> doing?", "Is <region1> near <region2>? Why?"]),
    ]
    for c in out:
        c["max_new_tokens"] = 12
        c["boxes_px"] = [BOXES[b] for b in c["boxes"]]
    return out


def roi_align_cases(gen):
    feats = torch.randn(2, 5, 9, 11, generator=gen)
    rois = torch.tensor([
        [0, 1.0, 1.0, 6.0, 5.0],        # inside
        [1, -3.0, -2.0, 4.0, 3.5],      # partly off the top-left
        [0, 7.5, 4.25, 14.0, 12.0],     # partly off the bottom-right
        [1, 2.0, 2.0, 2.0, 2.0],        # zero area
        [0, -20.0, -20.0, -5.0, -6.0],  # entirely outside
        [1, 0.0, 0.0, 11.0, 9.0],       # the whole map
        [0, 3.3, 0.2, 10.9, 8.8],
    ])
    variants = {}
    for scale in (1.0, 0.5714285714285714):
        for aligned in (True, False):
            for ratio in (1, 2, 3):
                key = f"roi.s{scale:.3f}.a{int(aligned)}.r{ratio}"
                variants[key] = torchvision.ops.roi_align(feats, rois, output_size=(4, 4), spatial_scale=scale,
                                                          sampling_ratio=ratio, aligned=aligned)
    return feats, rois, variants


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    clip_dir, model_dir = tg.build_model(out_dir)
    scene = tg.build_scene(out_dir)
    ref = tg.Gpt4roiReference(model_dir)
    out = {}
    enc = ref.encode(scene, [BOXES["a"]])
    out["pixels"] = enc["pixels"][0]
    for i, h in enumerate(enc["hidden_states"]):
        out[f"hidden.{i}"] = h[0]
    out["image_tokens"] = enc["image_tokens"]
    _, region_idx = tg.layer_indices(ref.clip.config.num_hidden_layers, ref.config["mm_vision_select_layer"],
                                     ref.spi.spi["num_levels"])
    with torch.no_grad():
        fused = ref.spi.fused([enc["hidden_states"][i][:, 1:] for i in region_idx])
    for l, f in enumerate(fused):
        out[f"fused.{l}"] = f[0]

    feats, rois, variants = roi_align_cases(torch.Generator().manual_seed(5))
    out["roi.features"], out["roi.rois"] = feats, rois
    out.update(variants)

    all_cases = cases()
    for case in all_cases:
        enc = ref.encode(scene, case["boxes_px"])
        out[f"{case['name']}.region_features"] = enc["region_features"]
        out[f"{case['name']}.boxes01"] = enc["boxes01"]
        history, seen, order, answers = [], set(), [], []
        n_image = enc["image_tokens"].shape[0]
        for k, question in enumerate(case["turns"]):
            text, new = tg.rewrite_question(question, seen)
            order += new
            user = (tg.FIRST_PREFIX if k == 0 else "") + text
            prompt = tg.conversation(history + [(user, None)], n_image)
            ids = ref.tokenizer(prompt).input_ids
            embeds = ref.embed(ids, enc["image_tokens"], enc["region_features"], order)
            tokens, logits0 = ref.greedy(embeds, case["max_new_tokens"])
            answer = ref.answer_text(tokens)
            key = case["name"] if len(case["turns"]) == 1 else f"{case['name']}.turn{k}"
            out[f"{key}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
            out[f"{key}.tokens"] = torch.tensor(tokens, dtype=torch.int64)
            out[f"{key}.logits0"] = logits0.float()
            out[f"{key}.prompt_bytes"] = torch.tensor(list(prompt.encode("utf-8")), dtype=torch.uint8)
            answers.append(answer)
            history.append((user, answer))
        assert sorted(order) == list(range(len(case["boxes"]))), (case["name"], order)
        case["answers"] = answers
        case["bbox_order"] = order

    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(out_dir, "reference.safetensors"))
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(dict(model=os.path.relpath(model_dir, out_dir), clip=os.path.relpath(clip_dir, out_dir),
                       image=os.path.relpath(scene, out_dir), image_size=[200, 150],
                       region_layers=region_idx, cases=all_cases), f, indent=2)
    print(json.dumps([(c["name"], c["answers"]) for c in all_cases]))


if __name__ == "__main__":
    main()
