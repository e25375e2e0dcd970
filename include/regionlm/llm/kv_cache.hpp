#pragma once
// Per-sequence decoder state: the keys and values of every layer for the positions seen so
// far. The model's weights are immutable and shared; everything that changes while a
// sequence is processed lives here, so each thread (or each conversation) owns one KVCache
// and any number of them may run through one model concurrently.
//
// Memory is allocated once, for `capacity` positions, and never reallocated: a forward
// writes its new keys/values in place (narrow + copy) and attends over a view of the
// filled prefix. A batch of rows advances in lockstep (one length for all rows).
//
// A cache may continue a shared prefix: another, batch-1 cache whose positions every row
// of this one follows (the system text and image tokens that every question about an image
// starts with). Those keys/values are stored once, there, and read once per step for all
// rows (attention over the prefix and over a row's own positions, merged by their
// log-sum-exp); this cache stores only what each row adds. A prefix may itself continue a
// prefix: describe_each prefills the question text its rows share once, on top of the
// image's prefix, and every row reads both.
#include <torch/types.h>

#include <memory>
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

  /// A cache whose rows all continue `prefix` (batch 1, read-only from here on: it must not
  /// change while this cache uses it; it may continue a prefix of its own). length() starts at
  /// prefix->length(); `capacity` counts the prefix's positions too (all levels), and only
  /// capacity - prefix->length() are allocated here.
  /// Throws ArgumentError when the prefix is null, not batch 1 or leaves no room, and
  /// ShapeError when it differs in layers, heads, head size, dtype or device.
  KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity,
          const torch::TensorOptions& options, std::shared_ptr<const KVCache> prefix);

  /// Positions already seen by every row: the shared prefix's, then the row's own.
  int64_t length() const { return length_; }
  /// Positions the cache can hold (the shared prefix's included).
  int64_t capacity() const { return capacity_; }
  /// The shared prefix this cache continues (null when none).
  const std::shared_ptr<const KVCache>& prefix() const { return prefix_; }
  /// Positions that sit in the shared prefix (0 when none); length() never drops below it.
  int64_t prefix_length() const { return prefix_length_; }
  /// Rows (sequences) in the cache.
  int64_t batch() const { return batch_; }
  /// Positions still free.
  int64_t remaining() const { return capacity_ - length_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  /// dtype and device of the stored keys/values.
  torch::TensorOptions options() const { return keys_.front().options(); }

  /// Forgets every own position (length back to prefix_length()); keeps the memory.
  void reset();
  /// Drops the positions from `length` on. Throws ArgumentError unless
  /// prefix_length() <= length <= length().
  void truncate(int64_t length);
  /// Copies the first `length` positions of `source` row `source_row` into every row of this
  /// cache and sets length() to `length`: a prompt prefix computed once for batch size 1 is
  /// shared by a batch (used to grow a chat's cache). Both caches must continue the same
  /// shared prefix (or none) and `length` must not fall inside it. Throws ArgumentError for an
  /// out-of-range row or length or different prefixes, and ShapeError when the two caches
  /// differ in layers, heads, head size, dtype or device.
  void broadcast_prefix_from(const KVCache& source, int64_t source_row, int64_t length);

  /// Used by the attention layers: writes `keys`/`values` [batch, kv_heads, T, head_dim] at
  /// positions length() .. length()+T-1 of `layer` and returns views of every position this
  /// cache stores including the new ones, [batch, kv_heads, length()+T - prefix_length(),
  /// head_dim] (the shared prefix's are prefix()->stored(layer)). length() itself only moves
  /// with advance(), after all layers have written.
  std::pair<torch::Tensor, torch::Tensor> write(int64_t layer, const torch::Tensor& keys,
                                                const torch::Tensor& values);
  /// Marks `count` more positions as stored. Throws ArgumentError past capacity.
  void advance(int64_t count);

  /// Keys and values of every position stored here in `layer`, [batch, kv_heads,
  /// length() - prefix_length(), head_dim] (views).
  std::pair<torch::Tensor, torch::Tensor> stored(int64_t layer) const;

  /// The whole key / value buffer of `layer`, [batch, kv_heads, capacity - prefix_length(),
  /// head_dim]; only the first length() - prefix_length() positions are meaningful. For
  /// inspection and tests.
  const torch::Tensor& keys(int64_t layer) const { return keys_.at(static_cast<size_t>(layer)); }
  const torch::Tensor& values(int64_t layer) const {
    return values_.at(static_cast<size_t>(layer));
  }

 private:
  /// Allocates the own positions after `prefix_length` shared ones.
  KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity, const torch::TensorOptions& options,
          int64_t prefix_length);
  /// The length of a usable shared prefix; ArgumentError / ShapeError otherwise.
  static int64_t checked_prefix_length(const KVCache* prefix, const LlamaConfig& config, int64_t capacity,
                                       const torch::TensorOptions& options);

  int64_t batch_;
  int64_t capacity_;
  std::shared_ptr<const KVCache> prefix_;
  int64_t prefix_length_ = 0;
  int64_t length_ = 0;
  std::vector<torch::Tensor> keys_;    // per layer [batch, kv_heads, capacity, head_dim]
  std::vector<torch::Tensor> values_;  // per layer [batch, kv_heads, capacity, head_dim]
};

}  // namespace regionlm::llm
