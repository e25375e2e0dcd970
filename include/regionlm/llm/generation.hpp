#pragma once
// Autoregressive generation over a Llama and a KVCache: prefill the prompt embeddings of every
// row, then decode token by token (greedy or sampled, see GenerationOptions), streaming each
// row's text through its own incremental detokenizer and stopping a row at EOS, a stop string,
// the token limit or the caller's request.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "regionlm/generation_options.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama.hpp"

namespace regionlm::llm {

/// One row's incremental detokenizer: given the next generated id, returns the text that id
/// completes (possibly empty; an incomplete UTF-8 sequence is held back). The library's is
/// text::StreamingDecoder (pipeline), whose cost per token is bounded.
using TokenDecoder = std::function<std::string(int64_t id)>;

/// What the library, not the caller, decides about a generation.
struct DecodeSetup {
  std::function<TokenDecoder()> make_decoder;  // a fresh decoder per row; required
  int64_t eos_token_id = -1;                   // < 0: no EOS stopping
  std::vector<int64_t> penalty_context;  // ids the repetition penalty counts besides the generated
                                         // ones (transformers counts the prompt's input_ids)
  bool cache_final_token = false;  // also feed the last token, so that the cache holds the prompt
                                   // and every returned token (a chat continues from there)
};

struct GenerationResult {
  std::string text;             // decoded generated text (stop string and EOS excluded)
  std::vector<int64_t> tokens;  // generated ids, including a final EOS or stop-string tokens
  StopReason stop_reason = StopReason::Length;
  Timings timings;
};

/// Prefills prompt_embeds [B, T, hidden] (model dtype and device; cache.batch() == B) after
/// whatever `cache` already holds, then generates for every row with the same options and
/// independent draws from one seeded generator. Rows finish independently; the batch stops
/// when all have. Finished rows keep being fed their last token, so afterwards each row's cache
/// holds its own tokens followed by filler up to the longest row: continue a row only after
/// truncating to its own length. Throws ArgumentError / ShapeError for bad options or inputs
/// before generating.
std::vector<GenerationResult> generate(const Llama& model, KVCache& cache, const torch::Tensor& prompt_embeds,
                                       const GenerationOptions& options, const DecodeSetup& setup);

}  // namespace regionlm::llm
