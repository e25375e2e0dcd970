#pragma once
// Autoregressive generation over a Llama and a KVCache: prefill the prompt embeddings,
// then decode token by token (greedy or sampled, see GenerationOptions), streaming text
// through a tokenizer-provided decode function and stopping at EOS, a stop string, the
// token limit or the caller's request.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "regionlm/llm/generation_options.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama.hpp"

namespace regionlm::llm {

/// Why generation ended.
enum class StopReason {
  Eos,         // the EOS token was generated (it is the last of `tokens`, not in `text`)
  StopString,  // a stop string appeared (`text` ends before it; `tokens` include it)
  Length,      // max_new_tokens reached, or the cache / max positions ran out
  Cancelled,   // the on_token / on_row_token callback returned false
};
/// "eos", "stop_string", "length", "cancelled".
const char* to_string(StopReason reason);

struct Timings {
  double prefill_ms = 0;              // prompt forward + first token choice, wall ms
  double decode_ms = 0;               // all later forwards and token choices, wall ms
  int64_t prompt_tokens = 0;          // positions prefilled
  int64_t generated_tokens = 0;       // tokens returned
  double decode_tokens_per_second = 0;  // decode forwards / decode seconds (0 if none)
};

struct GenerationResult {
  std::string text;             // decoded generated text (stop string and EOS excluded)
  std::vector<int64_t> tokens;  // generated ids, including a final EOS or stop-string tokens
  StopReason stop_reason = StopReason::Length;
  Timings timings;
};

/// Token ids -> text: the tokenizer's decode, skipping special tokens and dropping an
/// incomplete trailing UTF-8 sequence. Generation decodes the whole generated sequence
/// each step and streams the difference.
using DecodeFn = std::function<std::string(const std::vector<int64_t>&)>;

/// Prefills prompt_embeds [1, T, hidden] (model dtype and device) after whatever `cache`
/// (batch 1) already holds, then generates. `eos_token_id` < 0 disables EOS stopping.
/// Afterwards the cache holds its previous contents, the prompt and every returned token
/// (the last one only with options.cache_final_token), so a chat can append its next turn.
/// Throws ArgumentError / ShapeError for bad options or inputs before generating.
GenerationResult generate(const Llama& model, KVCache& cache, const torch::Tensor& prompt_embeds,
                          const GenerationOptions& options, const DecodeFn& decode,
                          int64_t eos_token_id);

/// Batched generation: prompt_embeds [B, T, hidden] (equal lengths; cache.batch() == B),
/// the same options for every row, independent draws per row from one seeded generator.
/// Rows finish independently; the batch stops when all have. Finished rows keep being fed
/// their last token, so afterwards each row's cache holds its own tokens followed by filler
/// up to the longest row: continue a row only after truncating to its own length.
/// options.on_token must be empty (use on_row_token).
std::vector<GenerationResult> generate_batch(const Llama& model, KVCache& cache,
                                             const torch::Tensor& prompt_embeds,
                                             const GenerationOptions& options,
                                             const DecodeFn& decode, int64_t eos_token_id);

}  // namespace regionlm::llm
