#pragma once
// One pre-norm LLaMA decoder layer:
//   h = x + self_attn(input_layernorm(x));  out = h + mlp(post_attention_layernorm(h)).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "regionlm/config.hpp"
#include "regionlm/llm/attention.hpp"
#include "regionlm/llm/mlp.hpp"
#include "regionlm/llm/rms_norm.hpp"

namespace regionlm::llm {

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  /// [B, T, hidden] -> [B, T, hidden]
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context) const;

  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

}  // namespace regionlm::llm
