"""transformers 4.31 eager timings to set next to bench_llm (C++): the same mid-size LLaMA
(hidden 768, 12 layers, 12 heads, MLP 2048, vocab 32000), prefill of a 128-token prompt,
single-token greedy decode steps at a 128..191 context, and generate(do_sample=False) of 64
tokens, in float32 and bfloat16.

Usage: bench_llm_torch.py [--threads N] [--repeats R] [--save DIR]

--threads: torch.set_num_threads (default: PyTorch's default); use the same for bench_llm
(REGIONLM_BENCH_THREADS). --save writes the float32 model (config.json + model.safetensors)
so the C++ benchmark runs the very same weights (REGIONLM_BENCH_LLM_MODEL=DIR).
"""
import argparse
import statistics
import time

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

PROMPT, NEW_TOKENS = 128, 64


def build() -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                         max_position_embeddings=2048, rms_norm_eps=1e-5)
    model = LlamaForCausalLM(config).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # same recipe as bench_llm.cpp: fan-in scaled, norm weights 1
        for p in model.parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, p.shape[1] ** -0.5)
    return model


def timed(fn):
    """(wall ms, process CPU ms) of one call: on a shared machine the CPU time is the steadier
    figure; Google Benchmark reports both as well."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def median_ms(fn, repeats):
    fn()  # warm-up
    samples = [timed(fn) for _ in range(repeats)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))


def run(model, ids, repeats, label):
    with torch.no_grad():
        prefill = median_ms(lambda: model(input_ids=ids, use_cache=True), repeats)
        past = None

        def prefill_cache():
            nonlocal past
            past = model(input_ids=ids, use_cache=True).past_key_values

        def decode_steps():
            nonlocal past
            token = torch.tensor([[5]])
            for _ in range(NEW_TOKENS):
                out = model(input_ids=token, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = out.logits[:, -1].argmax(-1, keepdim=True)

        samples = []
        for _ in range(repeats + 1):  # the first is a warm-up
            prefill_cache()
            samples.append(timed(decode_steps))
        step = tuple(statistics.median(s[i] for s in samples[1:]) / NEW_TOKENS for i in (0, 1))
        generation = GenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False,
                                      eos_token_id=None, pad_token_id=0)
        ones = torch.ones_like(ids)
        total = median_ms(lambda: model.generate(input_ids=ids, attention_mask=ones,
                                                 generation_config=generation), repeats)
    print(f"{label} (wall / CPU ms): prefill {PROMPT} tokens {prefill[0]:.1f} / {prefill[1]:.1f} | "
          f"decode step {step[0]:.2f} / {step[1]:.2f} ({1e3 / step[0]:.1f} / {1e3 / step[1]:.1f} "
          f"tokens/s) | generate {NEW_TOKENS} tokens {total[0]:.0f} / {total[1]:.0f} | "
          f"threads {torch.get_num_threads()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--save")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build()
    if args.save:
        model.save_pretrained(args.save, safe_serialization=True)
    torch.manual_seed(1)
    ids = torch.randint(3, 32000, (1, PROMPT))
    run(model, ids, args.repeats, "float32")
    run(model.to(torch.bfloat16), ids, args.repeats, "bfloat16")


if __name__ == "__main__":
    main()
