#pragma once
// What the mask-aware extractor makes of a set of regions: the decoder inputs that the
// `<region>` placeholders of a prompt stand for.
#include <torch/types.h>

namespace regionlm {

/// One mask token and one position token per region, in region order. Made by
/// Model::encode_regions (or Osprey::region_tokens); consumed by Model::embed.
struct RegionTokens {
  torch::Tensor mask_tokens;  // [Q, hidden], model dtype and device
  torch::Tensor pos_tokens;   // [Q, hidden], model dtype and device
  double ms = 0;              // wall time of masks + extractor, ms (0 when not measured)

  /// Number of regions (Q).
  int64_t size() const { return mask_tokens.defined() ? mask_tokens.size(0) : 0; }
};

}  // namespace regionlm
