#pragma once
// Per-sequence decoder state: the keys and values of every layer for the positions seen so
// far. The model's weights are immutable and shared; everything that changes while a
// sequence is processed lives here, so each thread (or each conversation) owns one KVCache
// and any number of them may run through one model concurrently.
//
// Memory is allocated once, for `capacity` positions, and never reallocated: a forward
// writes its new keys/values in place (narrow + copy) and attends over a view of the
// filled prefix. A batch of rows advances in lockstep (one length for all rows).
#include <torch/types.h>

#include <utility>
#include <vector>

#include "regionlm/config.hpp"

namespace regionlm::llm {

class KVCache {
 public:
  /// Allocates [batch, kv_heads, capacity, head_dim] keys and values per layer with
  /// `options` (use the model's dtype and device). Throws ArgumentError when batch or
  /// capacity is < 1 or capacity exceeds max_position_embeddings.
  KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity,
          const torch::TensorOptions& options);

  /// Positions already stored (the same for every batch row).
  int64_t length() const { return length_; }
  /// Positions the cache can hold.
  int64_t capacity() const { return capacity_; }
  /// Rows (sequences) in the cache.
  int64_t batch() const { return batch_; }
  /// Positions still free.
  int64_t remaining() const { return capacity_ - length_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  /// dtype and device of the stored keys/values.
  torch::TensorOptions options() const { return keys_.front().options(); }

  /// Forgets every position (length 0); keeps the memory.
  void reset();
  /// Drops the positions from `length` on. Throws ArgumentError unless
  /// 0 <= length <= length().
  void truncate(int64_t length);
  /// Copies the first `length` positions of `source` row `source_row` into every row of this
  /// cache and sets length() to `length`: a prompt prefix computed once for batch size 1 is
  /// shared by a batch. Throws ArgumentError for an out-of-range row or length and ShapeError
  /// when the two caches differ in layers, heads, head size, dtype or device.
  void broadcast_prefix_from(const KVCache& source, int64_t source_row, int64_t length);

  /// Used by the attention layers: writes `keys`/`values` [batch, kv_heads, T, head_dim] at
  /// positions length() .. length()+T-1 of `layer` and returns views of every stored
  /// position including the new ones, [batch, kv_heads, length()+T, head_dim]. length()
  /// itself only moves with advance(), after all layers have written.
  std::pair<torch::Tensor, torch::Tensor> write(int64_t layer, const torch::Tensor& keys,
                                                const torch::Tensor& values);
  /// Marks `count` more positions as stored. Throws ArgumentError past capacity.
  void advance(int64_t count);

  /// The whole key / value buffer of `layer`, [batch, kv_heads, capacity, head_dim]; only
  /// the first length() positions are meaningful. For inspection and tests.
  const torch::Tensor& keys(int64_t layer) const { return keys_.at(static_cast<size_t>(layer)); }
  const torch::Tensor& values(int64_t layer) const {
    return values_.at(static_cast<size_t>(layer));
  }

 private:
  int64_t batch_;
  int64_t capacity_;
  int64_t length_ = 0;
  std::vector<torch::Tensor> keys_;    // per layer [batch, kv_heads, capacity, head_dim]
  std::vector<torch::Tensor> values_;  // per layer [batch, kv_heads, capacity, head_dim]
};

}  // namespace regionlm::llm
