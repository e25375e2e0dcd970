#pragma once
// What llm::generate and the Batcher share: one row's progress through generation, the
// handling of each chosen token (EOS, stop strings, the token limit, the caller's on_step),
// and the checks of a generation's inputs. Internal to the library.
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/text_stream.hpp"

namespace regionlm::llm::detail {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since);

/// One row's progress through generation.
struct RowState {
  RowState(const std::vector<std::string>& stop_strings, TokenDecoder decoder)
      : stream(stop_strings), decode(std::move(decoder)) {}
  std::vector<int64_t> tokens;
  TextStream stream;
  TokenDecoder decode;
  bool done = false;
  StopReason reason = StopReason::Length;
};

/// Appends `id` to `row` (reported to on_step as row `index`) and decides whether the row is
/// done: EOS, a stop string, `max_tokens` reached, or on_step returning false.
void accept_token(RowState& row, int64_t index, int64_t id, int64_t max_tokens, const GenerationOptions& options,
                  int64_t eos_token_id);

/// Throws ShapeError / ArgumentError for prompt_embeds not [cache.batch(), T, hidden],
/// max_new_tokens < 1, a missing decoder factory or penalty ids outside the vocabulary.
void check_inputs(const Llama& model, const KVCache& cache, const torch::Tensor& prompt_embeds,
                  const GenerationOptions& options, const DecodeSetup& setup);

/// The row's result; `timings` are the generation's (generated_tokens is set here).
GenerationResult finish_row(RowState& row, const Timings& timings);

}  // namespace regionlm::llm::detail
