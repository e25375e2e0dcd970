#include "server/image_cache.hpp"

#include <torch/torch.h>

#include "sha256.hpp"

namespace regionlm::server {

std::string content_hash(const std::string& bytes) { return tiny_shapes::sha256_hex(bytes); }

size_t cached_bytes(CachedImage& image, size_t extra_bytes_per_encoding) {
  std::lock_guard<std::mutex> lock(image.mutex);
  size_t bytes = image.rgb.total() * image.rgb.elemSize();
  if (!image.encoded.empty()) {
    for (const torch::Tensor& f : image.encoded.features()) bytes += f.nbytes();
    bytes += image.encoded.image_tokens().nbytes() + extra_bytes_per_encoding;
  }
  if (!image.sam.empty()) bytes += image.sam.embedding().nbytes();
  if (image.everything) {
    for (const auto& m : *image.everything) bytes += m.segmentation.total() + sizeof(m);
  }
  return bytes;
}

ImageCache::ImageCache(size_t budget_bytes, size_t extra_bytes_per_encoding)
    : budget_(budget_bytes), extra_per_encoding_(extra_bytes_per_encoding) {}

std::shared_ptr<CachedImage> ImageCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = slots_.find(key);
  if (it == slots_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.image;
}

void ImageCache::insert(const std::shared_ptr<CachedImage>& image) {
  const size_t bytes = cached_bytes(*image, extra_per_encoding_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (slots_.count(image->key)) return;  // another request decoded the same image first
  lru_.push_front(image->key);
  slots_[image->key] = Slot{image, bytes, lru_.begin()};
  bytes_ += bytes;
  evict_locked();
}

void ImageCache::update(const std::shared_ptr<CachedImage>& image) {
  const size_t bytes = cached_bytes(*image, extra_per_encoding_);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = slots_.find(image->key);
  if (it == slots_.end() || it->second.image != image) return;  // evicted meanwhile
  bytes_ = bytes_ - it->second.bytes + bytes;
  it->second.bytes = bytes;
  evict_locked();
}

void ImageCache::evict_locked() {
  while (bytes_ > budget_ && !lru_.empty()) {
    const auto it = slots_.find(lru_.back());
    bytes_ -= it->second.bytes;
    slots_.erase(it);
    lru_.pop_back();
  }
}

ImageCache::Stats ImageCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {slots_.size(), bytes_, hits_, misses_};
}

}  // namespace regionlm::server
