#pragma once
// Next-token choice from logits, on the logits' device: repetition penalty, then (when
// sampling) temperature, top-k and top-p filtering in transformers' order and semantics,
// then argmax or one multinomial draw per row from a generator seeded by the options.
// Only the chosen ids ever need to leave the device.
#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <optional>

#include "regionlm/generation_options.hpp"

namespace regionlm::llm {

class Sampler {
 public:
  /// One sampler per generation (it owns the penalty history and the generator).
  /// Throws ArgumentError naming the option when temperature < 0, top_k < 0,
  /// top_p outside (0, 1], repetition_penalty <= 0, or batch / vocab_size < 1.
  Sampler(const GenerationOptions& options, int64_t batch, int64_t vocab_size,
          const torch::Device& device);

  /// Whether tokens are drawn (temperature > 0) rather than chosen by argmax.
  bool sampling() const { return temperature_ > 0.f; }
  /// Whether next() is the logits' argmax and nothing else (greedy, no repetition penalty), so
  /// callers may take one argmax over many such rows.
  bool plain_argmax() const { return !sampling() && !seen_.defined(); }

  /// Records ids [B] or [B, N] (any device) as seen, for the repetition penalty.
  void observe(const torch::Tensor& ids);

  /// logits [B, V] -> float32 [B, V] after the repetition penalty and, when sampling,
  /// temperature, top-k and top-p (filtered entries are -inf). Equals transformers'
  /// RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper and
  /// TopPLogitsWarper applied in that order.
  torch::Tensor process(const torch::Tensor& logits) const;

  /// Next ids [B] int64 on the logits' device.
  torch::Tensor next(const torch::Tensor& logits);

 private:
  float temperature_;
  int64_t top_k_;
  float top_p_;
  float repetition_penalty_;
  torch::Tensor seen_;  // [B, V] bool, tokens the penalty applies to
  std::optional<at::Generator> generator_;
};

}  // namespace regionlm::llm
