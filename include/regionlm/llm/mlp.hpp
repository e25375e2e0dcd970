#pragma once
// LLaMA gated MLP: down_proj(silu(gate_proj(x)) * up_proj(x)).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "regionlm/config.hpp"
#include "regionlm/layers/linear.hpp"

namespace regionlm::llm {

class LlamaMLPImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError unless hidden_act is "silu".
  LlamaMLPImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  /// [B, T, hidden] -> [B, T, hidden]
  torch::Tensor forward(const torch::Tensor& x) const;

  layers::Linear gate_proj{nullptr};
  layers::Linear up_proj{nullptr};
  layers::Linear down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

}  // namespace regionlm::llm
