#include "regionlm/llm/mlp.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"

namespace regionlm::llm {

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& config, const torch::TensorOptions& options) {
  if (config.hidden_act != "silu") {
    throw ConfigError("LlamaConfig: hidden_act '" + config.hidden_act +
                      "' is not supported (expected \"silu\")");
  }
  const int64_t hidden = config.hidden_size;
  const int64_t inner = config.intermediate_size;
  gate_proj = register_module("gate_proj", layers::Linear(hidden, inner, options, /*bias=*/false));
  up_proj = register_module("up_proj", layers::Linear(hidden, inner, options, /*bias=*/false));
  down_proj = register_module("down_proj", layers::Linear(inner, hidden, options, /*bias=*/false));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) const {
  const auto gated = torch::silu(gate_proj->forward(x)) * up_proj->forward(x);  // [B, T, inner]
  return down_proj->forward(gated);                                     // [B, T, hidden]
}

}  // namespace regionlm::llm
