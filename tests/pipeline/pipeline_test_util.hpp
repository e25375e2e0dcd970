#pragma once
// Shared by the pipeline tests: the reference model loaded once per process, and helpers.
#include <torch/types.h>

#include <string>
#include <vector>

#include "reference_data.hpp"
#include "regionlm/model.hpp"

namespace regionlm::test {

/// Load options for the CPU in `dtype`.
inline LoadOptions cpu(const std::string& dtype = "float32") {
  LoadOptions options;
  options.device = "cpu";
  options.dtype = dtype;
  return options;
}

/// The reference checkpoint (vision in the shards), CPU float32, loaded once.
inline const Model& reference_model() {
  static const Model model = Model::load(reference().model, cpu());
  return model;
}

/// Greedy decoding of at most `max_new_tokens`.
inline GenerationOptions greedy(int64_t max_new_tokens) {
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  options.temperature = 0.f;
  return options;
}

}  // namespace regionlm::test
