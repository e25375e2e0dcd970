#pragma once
// Counters of a continuous batch (llm::Batcher), light enough for model.hpp to include.
#include <cstdint>

namespace regionlm::llm {

/// What the batch has done so far (for monitoring and tests).
struct BatcherStats {
  int64_t requests = 0;       // calls that joined the batch
  int64_t steps = 0;          // decode steps run
  int64_t row_steps = 0;      // rows advanced, summed over the steps (row_steps / steps = mean batch)
  int64_t largest_step = 0;   // most rows in one step
};

}  // namespace regionlm::llm
