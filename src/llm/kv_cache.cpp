#include "regionlm/llm/kv_cache.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"

namespace regionlm::llm {

KVCache::KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity,
                 const torch::TensorOptions& options)
    : batch_(batch), capacity_(capacity) {
  if (batch < 1) throw ArgumentError("KVCache: batch must be >= 1, got " + std::to_string(batch));
  if (capacity < 1 || capacity > config.max_position_embeddings) {
    throw ArgumentError("KVCache: capacity must be in [1, max_position_embeddings = " +
                        std::to_string(config.max_position_embeddings) + "], got " +
                        std::to_string(capacity));
  }
  if (config.num_hidden_layers < 1 || config.num_key_value_heads < 1 || config.head_dim() < 1) {
    throw ConfigError("KVCache: config needs >= 1 layer, key/value head and head dimension");
  }
  const std::vector<int64_t> shape{batch, config.num_key_value_heads, capacity, config.head_dim()};
  keys_.reserve(config.num_hidden_layers);
  values_.reserve(config.num_hidden_layers);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(torch::empty(shape, options));    // [B, KVH, C, D]
    values_.push_back(torch::empty(shape, options));  // [B, KVH, C, D]
  }
}

void KVCache::reset() { length_ = 0; }

void KVCache::truncate(int64_t length) {
  if (length < 0 || length > length_) {
    throw ArgumentError("KVCache::truncate: length must be in [0, " + std::to_string(length_) +
                        "], got " + std::to_string(length));
  }
  length_ = length;
}

void KVCache::broadcast_prefix_from(const KVCache& source, int64_t source_row, int64_t length) {
  if (source_row < 0 || source_row >= source.batch_) {
    throw ArgumentError("KVCache::broadcast_prefix_from: source_row must be in [0, " +
                        std::to_string(source.batch_) + "), got " + std::to_string(source_row));
  }
  if (length < 0 || length > source.length_ || length > capacity_) {
    throw ArgumentError("KVCache::broadcast_prefix_from: length " + std::to_string(length) +
                        " exceeds the source's stored positions (" +
                        std::to_string(source.length_) + ") or this capacity (" +
                        std::to_string(capacity_) + ")");
  }
  const auto& ours = keys_.front();
  const auto& theirs = source.keys_.front();
  if (source.keys_.size() != keys_.size() || theirs.size(1) != ours.size(1) ||
      theirs.size(3) != ours.size(3) || theirs.scalar_type() != ours.scalar_type() ||
      theirs.device() != ours.device()) {
    throw ShapeError("KVCache::broadcast_prefix_from: caches differ in layers, key/value heads, "
                     "head size, dtype or device");
  }
  for (size_t layer = 0; layer < keys_.size(); ++layer) {
    // copy_ broadcasts the single source row over this cache's batch.
    keys_[layer].narrow(2, 0, length).copy_(
        source.keys_[layer].narrow(0, source_row, 1).narrow(2, 0, length));  // [B, KVH, L, D]
    values_[layer].narrow(2, 0, length).copy_(
        source.values_[layer].narrow(0, source_row, 1).narrow(2, 0, length));  // [B, KVH, L, D]
  }
  length_ = length;
}

std::pair<torch::Tensor, torch::Tensor> KVCache::write(int64_t layer, const torch::Tensor& keys,
                                                       const torch::Tensor& values) {
  const int64_t count = keys.size(2);
  if (length_ + count > capacity_) {
    throw ArgumentError("KVCache::write: " + std::to_string(count) + " new positions after " +
                        std::to_string(length_) + " exceed the capacity " +
                        std::to_string(capacity_));
  }
  auto& layer_keys = keys_.at(static_cast<size_t>(layer));
  auto& layer_values = values_.at(static_cast<size_t>(layer));
  layer_keys.narrow(2, length_, count).copy_(keys);      // [B, KVH, T, D]
  layer_values.narrow(2, length_, count).copy_(values);  // [B, KVH, T, D]
  return {layer_keys.narrow(2, 0, length_ + count),      // [B, KVH, S, D]
          layer_values.narrow(2, 0, length_ + count)};   // [B, KVH, S, D]
}

void KVCache::advance(int64_t count) {
  if (count < 0 || length_ + count > capacity_) {
    throw ArgumentError("KVCache::advance: " + std::to_string(count) + " positions after " +
                        std::to_string(length_) + " exceed the capacity " +
                        std::to_string(capacity_));
  }
  length_ += count;
}

}  // namespace regionlm::llm
