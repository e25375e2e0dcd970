#include "regionlm/gpt4roi/clip_encoder_layer.hpp"

#include <torch/torch.h>

namespace regionlm::gpt4roi {

ClipAttentionImpl::ClipAttentionImpl(const ClipVisionConfig& config,
                                     const torch::TensorOptions& options)
    : heads_(config.num_attention_heads) {
  const int64_t d = config.hidden_size;
  q_proj = register_module("q_proj", layers::Linear(d, d, options));
  k_proj = register_module("k_proj", layers::Linear(d, d, options));
  v_proj = register_module("v_proj", layers::Linear(d, d, options));
  out_proj = register_module("out_proj", layers::Linear(d, d, options));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2);
  auto split = [&](const torch::Tensor& y) {
    return y.view({b, t, heads_, d / heads_}).transpose(1, 2);  // [B, heads, T, d_head]
  };
  const auto q = split(q_proj(x));
  const auto k = split(k_proj(x));
  const auto v = split(v_proj(x));
  // softmax(q k^T / sqrt(d_head)) v, no mask (CLIP's vision tower attends everywhere).
  auto a = at::scaled_dot_product_attention(q, k, v);  // [B, heads, T, d_head]
  a = a.transpose(1, 2).reshape({b, t, d});            // [B, T, D]
  return out_proj(a);                                  // [B, T, D]
}

ClipMlpImpl::ClipMlpImpl(const ClipVisionConfig& config, const torch::TensorOptions& options)
    : quick_gelu_(config.hidden_act == "quick_gelu") {
  fc1 = register_module("fc1", layers::Linear(config.hidden_size, config.intermediate_size, options));
  fc2 = register_module("fc2", layers::Linear(config.intermediate_size, config.hidden_size, options));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  auto h = fc1(x);                                                     // [B, T, I]
  h = quick_gelu_ ? h * torch::sigmoid(h * 1.702) : torch::gelu(h);   // [B, T, I]
  return fc2(h);                                                       // [B, T, D]
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipVisionConfig& config,
                                           const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", ClipAttention(config, options));
  layer_norm1 = register_module("layer_norm1",
                                vision::LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  mlp = register_module("mlp", ClipMlp(config, options));
  layer_norm2 = register_module("layer_norm2",
                                vision::LayerNorm(config.hidden_size, config.layer_norm_eps, options));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  auto h = x + self_attn(layer_norm1(x));  // [B, T, D]
  return h + mlp(layer_norm2(h));          // [B, T, D]
}

}  // namespace regionlm::gpt4roi
