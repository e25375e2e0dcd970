#pragma once
// The step after a Linear layer's weight is read from a checkpoint, shared by every loader:
// quantize it or reorder it for the CPU, then let go of the file pages behind it.
#include <string>

#include "regionlm/io/weights.hpp"
#include "regionlm/layers/linear.hpp"

namespace regionlm::llm {

/// Quantizes `linear` to int8 (`int8`), else reorders it into oneDNN's CPU layout (`pack`; a
/// no-op off the CPU or for other dtypes), and when the layer then holds its own copy, drops
/// the mapped pages of `weight_key` in `weights` (Weights::release_pages), which it no longer
/// reads. Loading never holds the float weight twice that way.
void finish_loaded_linear(layers::LinearImpl& linear, const Weights& weights, const std::string& weight_key, bool int8,
                          bool pack);

}  // namespace regionlm::llm
