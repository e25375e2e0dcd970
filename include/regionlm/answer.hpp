#pragma once
// What Model::describe, Model::generate and ChatSession::ask return. Includes no LibTorch
// or decoder header (tests/pipeline/CMakeLists.txt compiles a file that includes only this).
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/generation_options.hpp"

namespace regionlm {

/// One generated answer.
struct Answer {
  std::string text;             // the answer (EOS and any stop string excluded)
  std::vector<int64_t> tokens;  // generated token ids, including a final EOS
  StopReason stop_reason = StopReason::Length;  // why generation ended
  Timings timings;              // prefill / decode wall times and token counts
  double encode_ms = 0;         // vision trunk + projector, wall ms (0 for a pre-encoded image)
  double regions_ms = 0;        // masks + mask-aware extractor, wall ms
};

}  // namespace regionlm
