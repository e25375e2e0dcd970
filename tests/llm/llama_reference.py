"""Reference outputs of transformers 4.31 `LlamaForCausalLM` for the C++ decoder parity tests.

Usage: llama_reference.py OUT_DIR

For each variant (base, gqa, tied, linear, embeds) builds a small random LLaMA, writes
  OUT_DIR/<variant>/bin/  config.json + sharded torch .bin files + pytorch_model.bin.index.json
  OUT_DIR/<variant>/st/   config.json + model.safetensors
  OUT_DIR/<variant>/reference.safetensors  inputs and expected outputs:
    input.prompt_ids [1, 48] / input.prompt_embeds [1, 48, H] (embeds variant)
    input.decode_ids [24]                  teacher-forced decode steps after the prompt
    expected.prefill_logits [1, 48, V], expected.decode_logits [24, V]      (float32 model)
    input.greedy_prompt_ids [1, 40] / input.greedy_prompt_embeds [1, 40, H]
    expected.greedy_tokens [64]            generate(do_sample=False, max_new_tokens=64), no EOS
    input.batch_ids [3, 20], expected.batch_logits [3, 20, V]
    expected.bf16_prefill_logits, expected.bf16_decode_logits, expected.bf16_greedy_tokens
                                           the same model cast to bfloat16 (logits as float32)
Also OUT_DIR/sampling.safetensors: transformers' logits processors applied to random logits
(input.logits [R, V], input.previous [R, N], expected.case{j} [R, V]; metadata `cases` = JSON
list of {temperature, top_k, top_p, repetition_penalty}).
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

PREFILL, DECODE, GREEDY_PROMPT, GREEDY_NEW, BATCH, BATCH_LEN = 48, 24, 40, 64, 3, 20

BASE = dict(
    vocab_size=512,
    hidden_size=96,
    intermediate_size=192,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=160,
    rms_norm_eps=1e-5,
    initializer_range=0.1,  # wider than 0.02 so that greedy choices are not near-ties
    tie_word_embeddings=False,
)
VARIANTS = {
    "base": {},
    "gqa": dict(num_attention_heads=6, num_key_value_heads=2),
    "tied": dict(tie_word_embeddings=True),
    "linear": dict(rope_scaling={"type": "linear", "factor": 2.0}),
    "embeds": {},
}


def build(variant, seed):
    torch.manual_seed(seed)
    config = LlamaConfig(**{**BASE, **VARIANTS[variant]})
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # non-trivial norm weights, so that loading them is tested
        for name, param in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
    return model


def run_model(model, prompt, decode_ids, greedy_prompt, batch_ids, use_embeds):
    """Prefill + teacher-forced decode logits, greedy tokens, batch logits."""
    key = "inputs_embeds" if use_embeds else "input_ids"
    out = {}
    with torch.no_grad():
        result = model(**{key: prompt}, use_cache=True)
        out["prefill_logits"] = result.logits.float()
        past = result.past_key_values
        steps = []
        for token in decode_ids.tolist():
            result = model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past = result.past_key_values
            steps.append(result.logits[0, -1].float())
        out["decode_logits"] = torch.stack(steps)
        generation = GenerationConfig(max_new_tokens=GREEDY_NEW, do_sample=False,
                                      eos_token_id=None, pad_token_id=0, bos_token_id=1)
        ones = torch.ones(greedy_prompt.shape[:2], dtype=torch.long)
        tokens = model.generate(**{key: greedy_prompt}, attention_mask=ones,
                                generation_config=generation)
        # With inputs_embeds, transformers 4.31 starts the returned ids with a BOS placeholder.
        tokens = tokens[0, -GREEDY_NEW:]
        assert tokens.numel() == GREEDY_NEW, tokens.shape
        out["greedy_tokens"] = tokens.clone()
        out["batch_logits"] = model(input_ids=batch_ids).logits.float()
    return out


def write_variant(out_dir, variant, seed):
    model = build(variant, seed)
    config = model.config
    directory = os.path.join(out_dir, variant)
    model.save_pretrained(os.path.join(directory, "bin"), safe_serialization=False,
                          max_shard_size="200KB")
    model.save_pretrained(os.path.join(directory, "st"), safe_serialization=True)

    generator = torch.Generator().manual_seed(seed + 1)
    use_embeds = variant == "embeds"
    # Ids from 3 up: no pad/BOS/EOS in prompts.
    ids = lambda *shape: torch.randint(3, config.vocab_size, shape, generator=generator)
    embeds = lambda *shape: torch.randn(*shape, config.hidden_size, generator=generator)
    prompt = embeds(1, PREFILL) if use_embeds else ids(1, PREFILL)
    greedy_prompt = embeds(1, GREEDY_PROMPT) if use_embeds else ids(1, GREEDY_PROMPT)
    decode_ids = ids(DECODE)
    batch_ids = ids(BATCH, BATCH_LEN)

    tensors = {"input.decode_ids": decode_ids, "input.batch_ids": batch_ids}
    name = "embeds" if use_embeds else "ids"
    tensors[f"input.prompt_{name}"] = prompt
    tensors[f"input.greedy_prompt_{name}"] = greedy_prompt
    for key, value in run_model(model, prompt, decode_ids, greedy_prompt, batch_ids,
                                use_embeds).items():
        tensors[f"expected.{key}"] = value
    model = model.to(torch.bfloat16)
    bf16 = run_model(model, prompt.to(torch.bfloat16) if use_embeds else prompt, decode_ids,
                     greedy_prompt.to(torch.bfloat16) if use_embeds else greedy_prompt,
                     batch_ids, use_embeds)
    for key in ("prefill_logits", "decode_logits", "greedy_tokens"):
        tensors[f"expected.bf16_{key}"] = bf16[key]
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(directory, "reference.safetensors"),
              metadata={"variant": variant, "transformers": transformers.__version__})


def write_sampling(out_dir):
    generator = torch.Generator().manual_seed(7)
    rows, vocab = 6, 40
    logits = torch.randn(rows, vocab, generator=generator) * 3.0
    logits[:, 5] = logits[:, 6]  # ties, including at top-k boundaries
    logits[:, 7] = 0.0
    previous = torch.randint(0, vocab, (rows, 12), generator=generator)
    cases = [
        dict(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.3),
        dict(temperature=0.7, top_k=5, top_p=1.0, repetition_penalty=1.0),
        dict(temperature=1.3, top_k=0, top_p=0.8, repetition_penalty=1.0),
        dict(temperature=0.5, top_k=10, top_p=0.9, repetition_penalty=1.2),
        dict(temperature=1.0, top_k=1, top_p=1.0, repetition_penalty=1.0),
        dict(temperature=1.0, top_k=0, top_p=0.3, repetition_penalty=0.8),
    ]
    tensors = {"input.logits": logits, "input.previous": previous}
    for j, case in enumerate(cases):
        # transformers' own construction order (_get_logits_processor, then _get_logits_warper).
        chain = []
        if case["repetition_penalty"] != 1.0:
            chain.append(RepetitionPenaltyLogitsProcessor(case["repetition_penalty"]))
        if case["temperature"] > 0:
            if case["temperature"] != 1.0:
                chain.append(TemperatureLogitsWarper(case["temperature"]))
            if case["top_k"] != 0:
                chain.append(TopKLogitsWarper(case["top_k"]))
            if case["top_p"] < 1.0:
                chain.append(TopPLogitsWarper(case["top_p"]))
        scores = logits.clone()
        for processor in chain:
            scores = processor(previous, scores)
        tensors[f"expected.case{j}"] = scores.contiguous()
    save_file(tensors, os.path.join(out_dir, "sampling.safetensors"),
              metadata={"cases": json.dumps(cases)})


def main():
    out_dir = sys.argv[1]
    torch.set_num_threads(1)
    for seed, variant in enumerate(VARIANTS):
        write_variant(out_dir, variant, 1000 + seed)
    write_sampling(out_dir)
    print("ok")


if __name__ == "__main__":
    main()
