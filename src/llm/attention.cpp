#include "regionlm/llm/attention.hpp"

#include <ATen/ops/scaled_dot_product_attention.h>
#include <torch/torch.h>

namespace regionlm::llm {

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& config,
                                       const torch::TensorOptions& options)
    : num_heads_(config.num_attention_heads),
      num_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim()) {
  const int64_t hidden = config.hidden_size;
  q_proj = register_module(
      "q_proj", layers::Linear(hidden, num_heads_ * head_dim_, options, /*bias=*/false));
  k_proj = register_module(
      "k_proj", layers::Linear(hidden, num_kv_heads_ * head_dim_, options, /*bias=*/false));
  v_proj = register_module(
      "v_proj", layers::Linear(hidden, num_kv_heads_ * head_dim_, options, /*bias=*/false));
  o_proj = register_module(
      "o_proj", layers::Linear(num_heads_ * head_dim_, hidden, options, /*bias=*/false));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x,
                                          const AttentionContext& context) const {
  const int64_t batch = x.size(0);
  const int64_t steps = x.size(1);
  auto q = q_proj->forward(x).view({batch, steps, num_heads_, head_dim_});     // [B, T, H, D]
  auto k = k_proj->forward(x).view({batch, steps, num_kv_heads_, head_dim_});  // [B, T, KVH, D]
  auto v = v_proj->forward(x).view({batch, steps, num_kv_heads_, head_dim_});  // [B, T, KVH, D]
  q = q.transpose(1, 2);  // [B, H, T, D]
  k = k.transpose(1, 2);  // [B, KVH, T, D]
  v = v.transpose(1, 2);  // [B, KVH, T, D]
  q = RotaryEmbedding::apply(q, context.angles);  // [B, H, T, D]
  k = RotaryEmbedding::apply(k, context.angles);  // [B, KVH, T, D]
  if (context.cache != nullptr) {
    std::tie(k, v) = context.cache->write(context.layer, k, v);  // [B, KVH, S, D] each
  }
  // Softmax statistics are float32 inside SDPA for every dtype (the CPU and CUDA fused
  // kernels accumulate in float32), as transformers upcasts its softmax.
  const auto attended = at::scaled_dot_product_attention(
      q, k, v, context.mask, /*dropout_p=*/0.0, context.causal, /*scale=*/std::nullopt,
      /*enable_gqa=*/num_kv_heads_ != num_heads_);  // [B, H, T, D]
  const auto merged = attended.transpose(1, 2).reshape({batch, steps, num_heads_ * head_dim_});
  return o_proj->forward(merged);  // [B, T, hidden]
}

}  // namespace regionlm::llm
