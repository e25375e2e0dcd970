#include "regionlm/llm/kv_cache.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"

namespace regionlm::llm {

KVCache::KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity,
                 const torch::TensorOptions& options)
    : KVCache(config, batch, capacity, options, int64_t{0}) {}

KVCache::KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity,
                 const torch::TensorOptions& options, std::shared_ptr<const KVCache> prefix)
    : KVCache(config, batch, capacity, options, checked_prefix_length(prefix.get(), config, capacity, options)) {
  prefix_ = std::move(prefix);
}

int64_t KVCache::checked_prefix_length(const KVCache* prefix, const LlamaConfig& config, int64_t capacity,
                                       const torch::TensorOptions& options) {
  if (!prefix) throw ArgumentError("KVCache: the shared prefix is null");
  if (prefix->batch() != 1) {
    throw ArgumentError("KVCache: a shared prefix must have batch 1, got " + std::to_string(prefix->batch()));
  }
  if (prefix->length() >= capacity) {
    throw ArgumentError("KVCache: capacity " + std::to_string(capacity) + " leaves no room after the shared prefix's " +
                        std::to_string(prefix->length()) + " positions");
  }
  const torch::Tensor& keys = prefix->keys_.front();
  if (prefix->num_layers() != config.num_hidden_layers || keys.size(1) != config.num_key_value_heads ||
      keys.size(3) != config.head_dim() || keys.scalar_type() != c10::typeMetaToScalarType(options.dtype()) ||
      keys.device() != options.device()) {
    throw ShapeError("KVCache: the shared prefix differs in layers, key/value heads, head size, dtype or device");
  }
  return prefix->length();
}

KVCache::KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity, const torch::TensorOptions& options,
                 int64_t prefix_length)
    : batch_(batch), capacity_(capacity), prefix_length_(prefix_length), length_(prefix_length) {
  if (batch < 1) throw ArgumentError("KVCache: batch must be >= 1, got " + std::to_string(batch));
  if (capacity < 1 || capacity > config.max_position_embeddings) {
    throw ArgumentError("KVCache: capacity must be in [1, max_position_embeddings = " +
                        std::to_string(config.max_position_embeddings) + "], got " +
                        std::to_string(capacity));
  }
  if (config.num_hidden_layers < 1 || config.num_key_value_heads < 1 || config.head_dim() < 1) {
    throw ConfigError("KVCache: config needs >= 1 layer, key/value head and head dimension");
  }
  // Only the positions after the shared prefix live here.
  const std::vector<int64_t> shape{batch, config.num_key_value_heads, capacity - prefix_length, config.head_dim()};
  keys_.reserve(config.num_hidden_layers);
  values_.reserve(config.num_hidden_layers);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(torch::empty(shape, options));    // [B, KVH, C - P, D]
    values_.push_back(torch::empty(shape, options));  // [B, KVH, C - P, D]
  }
}

void KVCache::reset() { length_ = prefix_length_; }

void KVCache::truncate(int64_t length) {
  if (length < prefix_length_ || length > length_) {
    throw ArgumentError("KVCache::truncate: length must be in [" + std::to_string(prefix_length_) + ", " +
                        std::to_string(length_) + "], got " + std::to_string(length));
  }
  length_ = length;
}

void KVCache::broadcast_prefix_from(const KVCache& source, int64_t source_row, int64_t length) {
  if (source_row < 0 || source_row >= source.batch_) {
    throw ArgumentError("KVCache::broadcast_prefix_from: source_row must be in [0, " +
                        std::to_string(source.batch_) + "), got " + std::to_string(source_row));
  }
  if (source.prefix_ != prefix_) {
    throw ArgumentError("KVCache::broadcast_prefix_from: the caches continue different shared prefixes");
  }
  if (length < prefix_length_ || length > source.length_ || length > capacity_) {
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
  const int64_t own = length - prefix_length_;  // positions stored in the caches themselves
  for (size_t layer = 0; layer < keys_.size(); ++layer) {
    // copy_ broadcasts the single source row over this cache's batch.
    keys_[layer].narrow(2, 0, own).copy_(
        source.keys_[layer].narrow(0, source_row, 1).narrow(2, 0, own));  // [B, KVH, L - P, D]
    values_[layer].narrow(2, 0, own).copy_(
        source.values_[layer].narrow(0, source_row, 1).narrow(2, 0, own));  // [B, KVH, L - P, D]
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
  const int64_t own = length_ - prefix_length_;
  layer_keys.narrow(2, own, count).copy_(keys);      // [B, KVH, T, D]
  layer_values.narrow(2, own, count).copy_(values);  // [B, KVH, T, D]
  return {layer_keys.narrow(2, 0, own + count),      // [B, KVH, S, D]
          layer_values.narrow(2, 0, own + count)};   // [B, KVH, S, D]
}

std::pair<torch::Tensor, torch::Tensor> KVCache::stored(int64_t layer) const {
  const int64_t own = length_ - prefix_length_;
  return {keys_.at(static_cast<size_t>(layer)).narrow(2, 0, own),     // [B, KVH, own, D]
          values_.at(static_cast<size_t>(layer)).narrow(2, 0, own)};  // [B, KVH, own, D]
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
