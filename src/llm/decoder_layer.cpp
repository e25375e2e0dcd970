#include "regionlm/llm/decoder_layer.hpp"

#include <torch/torch.h>

namespace regionlm::llm {

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& config,
                                             const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", LlamaAttention(config, options));
  mlp = register_module("mlp", LlamaMLP(config, options));
  input_layernorm =
      register_module("input_layernorm", RMSNorm(config.hidden_size, config.rms_norm_eps, options));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", RMSNorm(config.hidden_size, config.rms_norm_eps, options));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x,
                                             const AttentionContext& context) const {
  const auto h = x + self_attn->forward(input_layernorm->forward(x), context);  // [B, T, hidden]
  return h + mlp->forward(post_attention_layernorm->forward(h));                // [B, T, hidden]
}

}  // namespace regionlm::llm
