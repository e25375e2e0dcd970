#include "regionlm/llm/attention.hpp"

#include <ATen/ops/scaled_dot_product_attention.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace regionlm::llm {

namespace {

/// Softmax attention of q [B, H, T, D] over a shared prefix pk/pv [1, KVH, P, D] and each row's
/// own keys/values k/v [B, KVH, S, D] (mask [T, S], true = visible; none = all visible), as if
/// the prefix were copied in front of every row. The prefix is multiplied once for all rows:
/// the queries of every row that share a key/value head form one matrix. The two parts are
/// combined through their log-sum-exps; softmax statistics are float32 whatever the dtype.
torch::Tensor attend_with_prefix(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& pk, const torch::Tensor& pv,
                                 const std::optional<torch::Tensor>& mask) {
  const int64_t batch = q.size(0), heads = q.size(1), steps = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1), group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));

  // Prefix part: [KVH, B * group * T, D] queries against [KVH, P, D] keys.
  const auto rows = q.reshape({batch, kv_heads, group * steps, dim})
                        .transpose(0, 1)
                        .reshape({kv_heads, batch * group * steps, dim});                 // [KVH, M, D]
  auto prefix_scores = torch::matmul(rows, pk.squeeze(0).transpose(1, 2)).to(torch::kFloat) * scale;  // [KVH, M, P]
  const auto prefix_lse = prefix_scores.logsumexp(-1, /*keepdim=*/true);                  // [KVH, M, 1]
  const auto prefix_out = torch::matmul((prefix_scores - prefix_lse).exp().to(q.scalar_type()),
                                        pv.squeeze(0));                                     // [KVH, M, D]

  // Own part: each row's queries against its own positions, [B, KVH, group * T, S].
  auto own_scores = torch::matmul(q.reshape({batch, kv_heads, group * steps, dim}), k.transpose(2, 3))
                        .to(torch::kFloat) * scale;                                         // [B, KVH, gT, S]
  if (mask) {
    own_scores = own_scores.view({batch, kv_heads, group, steps, -1})
                     .masked_fill(mask->logical_not(), -std::numeric_limits<float>::infinity())
                     .view({batch, kv_heads, group * steps, -1});
  }
  const auto own_lse = own_scores.logsumexp(-1, /*keepdim=*/true);                         // [B, KVH, gT, 1]
  const auto own_out = torch::matmul((own_scores - own_lse).exp().to(q.scalar_type()), v);  // [B, KVH, gT, D]

  // Back to [B, KVH, gT, ...] and merge: weights exp(lse - max) of each part.
  const auto to_rows = [&](const torch::Tensor& t) {
    return t.reshape({kv_heads, batch, group * steps, t.size(-1)}).transpose(0, 1);       // [B, KVH, gT, *]
  };
  const auto lse_p = to_rows(prefix_lse);
  const auto top = torch::maximum(lse_p, own_lse);
  const auto w_p = (lse_p - top).exp();
  const auto w_s = (own_lse - top).exp();
  const auto merged = (w_p * to_rows(prefix_out).to(torch::kFloat) + w_s * own_out.to(torch::kFloat)) / (w_p + w_s);
  return merged.to(q.scalar_type()).reshape({batch, heads, steps, dim});                   // [B, H, T, D]
}

}  // namespace

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
    std::tie(k, v) = context.cache->write(context.layer, k, v);  // own positions, [B, KVH, S, D] each
    if (const KVCache* prefix = context.cache->prefix().get()) {
      const auto [pk, pv] = prefix->stored(context.layer);  // [1, KVH, P, D] each
      std::optional<torch::Tensor> mask = context.mask;
      if (context.causal) mask = torch::ones({x.size(1), k.size(2)}, q.options().dtype(torch::kBool)).tril();  // [T, S]
      const auto attended = attend_with_prefix(q, k, v, pk, pv, mask);  // [B, H, T, D]
      return o_proj->forward(attended.transpose(1, 2).reshape({batch, steps, num_heads_ * head_dim_}));
    }
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
