#pragma once
// LLaMA self-attention: q/k/v/o projections (names as in HF `self_attn.{q,k,v,o}_proj`),
// RoPE on queries and keys, grouped-query attention when kv_heads < heads, and
// at::scaled_dot_product_attention over the cached prefix plus the new positions.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/llm/rotary_embedding.hpp"

namespace regionlm::llm {

/// What every layer of one forward shares: the positions' rotary angles, the mask and the
/// cache. Built once per forward by LlamaModelImpl.
struct AttentionContext {
  RotaryAngles angles;                // rotation of the T new positions
  std::optional<torch::Tensor> mask;  // [T, S] bool, true = may attend; absent when not needed
  bool causal = false;                // SDPA's own causal mask (only valid when S == T)
  int64_t layer = 0;                  // index of the layer using the context (cache slot)
  KVCache* cache = nullptr;           // null: no cache (training forward)
  /// One decode step of independent sequences (the batching engine): row r of the input
  /// [B, 1, hidden] continues rows[r] (a batch-1 cache, each at its own length) rotated by
  /// row_angles[r]; `cache`, `angles`, `mask` and `causal` are unused then. Rows continuing
  /// the same shared prefix read it once for all of them.
  std::vector<KVCache*> rows;
  std::vector<RotaryAngles> row_angles;
};

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  /// x [B, T, hidden] -> [B, T, hidden]. Appends this layer's keys/values to
  /// `context.cache` when one is given.
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context) const;

  layers::Linear q_proj{nullptr};
  layers::Linear k_proj{nullptr};
  layers::Linear v_proj{nullptr};
  layers::Linear o_proj{nullptr};

 private:
  int64_t num_heads_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
};
TORCH_MODULE(LlamaAttention);

}  // namespace regionlm::llm
