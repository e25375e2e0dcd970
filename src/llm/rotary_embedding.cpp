#include "regionlm/llm/rotary_embedding.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"

namespace regionlm::llm {

RotaryEmbedding::RotaryEmbedding(const LlamaConfig& config, const torch::TensorOptions& options) {
  const int64_t dim = config.head_dim();
  if (dim <= 0 || dim % 2 != 0) {
    throw ConfigError("LlamaConfig: head dimension hidden_size / num_attention_heads = " +
                      std::to_string(dim) + " must be positive and even for RoPE");
  }
  double position_divisor = 1.0;
  if (config.rope_scaling) {
    const auto& scaling = *config.rope_scaling;
    if (scaling.type != "linear" && scaling.type != "dynamic") {
      throw ConfigError("LlamaConfig: rope_scaling.type '" + scaling.type +
                        "' is not supported (expected \"linear\" or \"dynamic\")");
    }
    if (!(scaling.factor > 1.0)) {
      throw ConfigError("LlamaConfig: rope_scaling.factor must be > 1, got " +
                        std::to_string(scaling.factor));
    }
    if (scaling.type == "linear") position_divisor = scaling.factor;
  }
  // Everything in float32 on the target device, in transformers' operation order.
  const auto f32 = options.dtype(torch::kFloat);
  const auto exponents = torch::arange(0, dim, 2, f32) / static_cast<double>(dim);  // [D/2]
  const auto inv_freq = torch::pow(config.rope_theta, exponents).reciprocal();       // [D/2]
  auto positions = torch::arange(config.max_position_embeddings, f32);                // [P]
  if (position_divisor != 1.0) positions = positions / position_divisor;
  const auto freqs = torch::outer(positions, inv_freq);                               // [P, D/2]
  const auto angles = torch::cat({freqs, freqs}, -1);                                 // [P, D]
  cos_ = angles.cos().to(options.dtype());                                            // [P, D]
  sin_ = angles.sin().to(options.dtype());                                            // [P, D]
}

RotaryAngles RotaryEmbedding::angles(int64_t start, int64_t count) const {
  return {cos_.narrow(0, start, count), sin_.narrow(0, start, count)};  // [T, D] each
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const RotaryAngles& angles) {
  const int64_t half = x.size(-1) / 2;
  const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * angles.cos + rotated * angles.sin;  // [B, heads, T, D]
}

}  // namespace regionlm::llm
