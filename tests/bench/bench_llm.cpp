// Decoder timings for a mid-size LLaMA (hidden 768, 12 layers, 12 heads, MLP 2048, vocab
// 32000: 134 M parameters): prefill of a 128-token prompt, single-token decode steps at a
// 128..192 token context, and greedy generate() of 64 tokens, in float32 (plain and in
// oneDNN's packed CPU layout), bfloat16 and int8.
//
// Weights: $REGIONLM_BENCH_LLM_MODEL (a Hugging Face LLaMA directory, e.g. the one
// bench_llm_torch.py --save writes) or seeded random values with the built-in config.
// Threads: $REGIONLM_BENCH_THREADS or LibTorch's default; pass the same number to
// bench_llm_torch.py for the transformers eager comparison.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>

#include "regionlm/config.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/llama.hpp"

namespace {

using regionlm::llm::KVCache;
using regionlm::llm::Llama;

constexpr int64_t kPrompt = 128;  // prompt positions
constexpr int64_t kNewTokens = 64;  // decode steps per cache fill

void configure_threads() {
  if (const char* env = std::getenv("REGIONLM_BENCH_THREADS"); env && *env) {
    torch::set_num_threads(std::atoi(env));
  }
}

regionlm::LlamaConfig bench_config() {
  regionlm::LlamaConfig config;
  config.vocab_size = 32000;
  config.hidden_size = 768;
  config.intermediate_size = 2048;
  config.num_hidden_layers = 12;
  config.num_attention_heads = 12;
  config.num_key_value_heads = 12;
  config.max_position_embeddings = 2048;
  config.rms_norm_eps = 1e-5;
  return config;
}

Llama make_float_model(torch::ScalarType dtype) {
  const auto options = torch::TensorOptions().dtype(dtype);
  if (const char* dir = std::getenv("REGIONLM_BENCH_LLM_MODEL"); dir && *dir) {
    return regionlm::llm::load_llama(dir, options);
  }
  // Fan-in scaled random weights (norm weights 1): realistic activation ranges.
  Llama model(bench_config(), options);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  for (auto& item : model->named_parameters()) {
    auto p = item.value();
    if (p.dim() == 1) {
      p.fill_(1.0);
    } else {
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
    }
  }
  return model;
}

/// Random (or $REGIONLM_BENCH_LLM_MODEL) weights in `dtype`; with `int8`, every linear layer
/// quantized as LoadOptions::quantize = "int8" does; with `packed`, in oneDNN's CPU layout as
/// LoadOptions::pack_cpu_weights does (Model::load's default on the CPU in float32).
Llama make_model(torch::ScalarType dtype, bool int8 = false, bool packed = false) {
  Llama model = make_float_model(dtype);
  for (const auto& module : model->modules()) {
    if (auto* linear = dynamic_cast<regionlm::layers::LinearImpl*>(module.get())) {
      if (int8) linear->quantize_int8();
      if (packed) linear->pack_for_cpu();
    }
  }
  return model;
}

torch::Tensor prompt_ids(const Llama& model) {
  torch::manual_seed(1);
  return torch::randint(3, model->config().vocab_size, {1, kPrompt}, torch::kLong);  // [1, P]
}

void BM_Prefill128(benchmark::State& state, torch::ScalarType dtype, bool int8 = false, bool packed = false) {
  configure_threads();
  c10::InferenceMode inference;
  const auto model = make_model(dtype, int8, packed);
  const auto ids = prompt_ids(model);
  KVCache cache(model->config(), 1, kPrompt + kNewTokens, model->options());
  model->forward_ids(ids, cache, /*last_only=*/true);  // warm-up
  for (auto _ : state) {
    cache.reset();
    benchmark::DoNotOptimize(model->forward_ids(ids, cache, /*last_only=*/true).data_ptr());
  }
  state.counters["tokens_per_second"] = benchmark::Counter(
      static_cast<double>(kPrompt), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = torch::get_num_threads();
}

// One greedy step per iteration (embed, forward, argmax, id to host) at a context of
// 128..191 positions; the cache is rewound to the prompt whenever it fills.
void BM_DecodeStep(benchmark::State& state, torch::ScalarType dtype, bool int8 = false, bool packed = false) {
  configure_threads();
  c10::InferenceMode inference;
  const auto model = make_model(dtype, int8, packed);
  KVCache cache(model->config(), 1, kPrompt + kNewTokens, model->options());
  model->forward_ids(prompt_ids(model), cache, /*last_only=*/true);
  auto token = torch::tensor({{5}}, torch::kLong);  // [1, 1]
  for (auto _ : state) {
    if (cache.remaining() == 0) cache.truncate(kPrompt);
    const auto logits = model->forward_ids(token, cache, /*last_only=*/true);  // [1, 1, V]
    token = torch::tensor({{logits.argmax(-1).item<int64_t>()}}, torch::kLong);
  }
  state.counters["tokens_per_second"] =
      benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = torch::get_num_threads();
}

// generate() end to end: prefill 128 + 64 greedy tokens, as the pipeline runs it.
void BM_GenerateGreedy64(benchmark::State& state, torch::ScalarType dtype, bool int8 = false,
                         bool packed = false) {
  configure_threads();
  const auto model = make_model(dtype, int8, packed);
  torch::Tensor prompt;
  {
    c10::InferenceMode inference;
    prompt = model->embed(prompt_ids(model));  // [1, P, H]
  }
  regionlm::GenerationOptions options;
  options.max_new_tokens = kNewTokens;
  regionlm::llm::DecodeSetup no_text;  // no detokenizing: this measures the decoder
  no_text.make_decoder = [] { return regionlm::llm::TokenDecoder([](int64_t) { return std::string(); }); };
  KVCache cache(model->config(), 1, kPrompt + kNewTokens, model->options());
  double prefill_ms = 0;
  double decode_rate = 0;
  for (auto _ : state) {
    cache.reset();
    const auto result = regionlm::llm::generate(model, cache, prompt, options, no_text).front();
    prefill_ms += result.timings.prefill_ms;
    decode_rate += result.timings.decode_tokens_per_second;
  }
  const auto runs = static_cast<double>(state.iterations());
  state.counters["prefill_ms"] = prefill_ms / runs;
  state.counters["decode_tokens_per_second"] = decode_rate / runs;
  state.counters["threads"] = torch::get_num_threads();
}

BENCHMARK_CAPTURE(BM_Prefill128, float32, torch::kFloat32)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, float32_packed, torch::kFloat32, false, true)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, bfloat16, torch::kBFloat16)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, float32, torch::kFloat32)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, float32_packed, torch::kFloat32, false, true)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, bfloat16, torch::kBFloat16)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill128, int8, torch::kFloat32, true)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, int8, torch::kFloat32, true)
    ->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_GenerateGreedy64, float32, torch::kFloat32)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_CAPTURE(BM_GenerateGreedy64, float32_packed, torch::kFloat32, false, true)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_CAPTURE(BM_GenerateGreedy64, bfloat16, torch::kBFloat16)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_CAPTURE(BM_GenerateGreedy64, int8, torch::kFloat32, true)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
