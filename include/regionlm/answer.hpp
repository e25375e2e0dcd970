#pragma once
// What Model::describe and ChatSession::ask return.
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/generation_options.hpp"

namespace regionlm {

/// Generation controls (greedy by default; see llm/generation_options.hpp).
using GenerationOptions = llm::GenerationOptions;
/// Why an answer ended: Eos, StopString, Length or Cancelled.
using StopReason = llm::StopReason;

/// One generated answer.
struct Answer {
  std::string text;             // the answer (EOS and any stop string excluded)
  std::vector<int64_t> tokens;  // generated token ids, including a final EOS
  StopReason stop_reason = StopReason::Length;  // why generation ended
  llm::Timings timings;         // prefill / decode wall times and token counts
  double encode_ms = 0;         // vision trunk + projector, wall ms (0 for a pre-encoded image)
  double regions_ms = 0;        // masks + mask-aware extractor, wall ms
};

}  // namespace regionlm
