#pragma once
// Rotary position embedding (rotate-half convention) with cos/sin tables precomputed for
// every position up to max_position_embeddings. The tables are computed in float32 as
// transformers 4.31 does (inv_freq = 1 / theta^(2i/d), angle = position * inv_freq, linear
// scaling divides the position by the factor) and stored in the model's dtype, the dtype
// transformers multiplies in. They are plain members, not registered buffers: they are
// derived from the config, never read from a checkpoint (a stored `rotary_emb.inv_freq` is
// ignored).
#include <torch/types.h>

#include "regionlm/config.hpp"

namespace regionlm::llm {

/// The cos/sin rows of a run of consecutive positions, shaped to broadcast over
/// [B, heads, T, head_dim].
struct RotaryAngles {
  torch::Tensor cos;  // [T, head_dim], model dtype
  torch::Tensor sin;  // [T, head_dim], model dtype
};

class RotaryEmbedding {
 public:
  /// Throws ConfigError for an odd head dimension or an unsupported `rope_scaling` type.
  /// "dynamic" (NTK) is accepted: transformers 4.31 only changes the base for sequences
  /// longer than max_position_embeddings, which regionlm rejects, so inside the supported
  /// range it equals unscaled RoPE.
  RotaryEmbedding(const LlamaConfig& config, const torch::TensorOptions& options);

  /// Angles for positions [start, start + count). The caller has checked the range.
  RotaryAngles angles(int64_t start, int64_t count) const;

  /// x [B, heads, T, head_dim] rotated by `angles` (same dtype as x).
  static torch::Tensor apply(const torch::Tensor& x, const RotaryAngles& angles);

  int64_t max_positions() const { return cos_.size(0); }

 private:
  torch::Tensor cos_;  // [max_positions, head_dim]
  torch::Tensor sin_;  // [max_positions, head_dim]
};

}  // namespace regionlm::llm
