#pragma once
// Helpers shared by the decoder tests: small configs, randomly initialised models, a toy
// "successor" model whose greedy output is known, and the cached transformers references.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/llama.hpp"

namespace regionlm::test {

/// A small LLaMA config with GQA (4 heads, 2 kv heads), 2 layers, hidden 32, vocab 64.
LlamaConfig small_llama_config();

/// A Llama with every weight drawn from N(0, std) (norm weights around 1), deterministic in
/// `seed`.
llm::Llama random_llama(const LlamaConfig& config, uint64_t seed,
                        torch::ScalarType dtype = torch::kFloat, double std = 0.2);

/// A 1-layer Llama over `vocab` (even) tokens whose greedy choice after token i is
/// (i + 1) % vocab: identity embeddings, attention and MLP outputs zeroed, lm_head a shifted
/// identity. Gives generation tests a known token sequence.
llm::Llama successor_llama(int64_t vocab);

/// A DecodeSetup over a toy tokenizer of fixed byte pieces: each row's decoder concatenates
/// them, skips `eos`, and holds back an incomplete trailing UTF-8 sequence like the real
/// streaming decoder. EOS stops generation at `eos`; the final token is cached.
llm::DecodeSetup piece_setup(std::vector<std::string> pieces, int64_t eos);

/// A DecodeSetup whose decoders produce no text, with the given EOS (< 0: none).
llm::DecodeSetup silent_setup(int64_t eos = -1);

/// The single row of a batch-1 generate().
llm::GenerationResult generate_one(const llm::Llama& model, llm::KVCache& cache, const torch::Tensor& prompt_embeds,
                                   const GenerationOptions& options, const llm::DecodeSetup& setup);

/// Directory with the outputs of tests/llm/llama_reference.py, generated once per script
/// version and shared by all test processes (each ctest test is its own process).
std::filesystem::path llama_reference_dir();

}  // namespace regionlm::test
