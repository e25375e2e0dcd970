#pragma once
// Images by content: an uploaded image is identified by the SHA-256 of its file bytes, and
// what was computed from it (the decoded pixels, Osprey's vision features, SAM's embedding,
// SAM's automatic masks) is kept in a least-recently-used cache bounded in bytes, so a
// follow-up question about the same image skips decoding, the vision trunk and SAM's encoder.
#include <opencv2/core/mat.hpp>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "regionlm/encoded_image.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"

namespace regionlm::server {

/// One image and what has been computed from it. The lazily made members are guarded by
/// `mutex`: the first request that needs one computes it while later ones wait, then reuse it.
struct CachedImage {
  std::string key;  // hex SHA-256 of the file bytes
  cv::Mat rgb;      // CV_8UC3 RGB
  std::mutex mutex;
  EncodedImage encoded;                                    // Osprey vision features (empty until used)
  sam::SamImage sam;                                       // SAM image embedding (empty until used)
  std::optional<std::vector<sam::GeneratedMask>> everything;  // SAM's automatic masks (once asked)
};

/// Bytes an entry holds: pixels, feature tensors, SAM embedding and masks, plus
/// `extra_bytes_per_encoding` once the Osprey features exist (the decoder state the library keeps
/// per encoded image for its image prefix, which it does not expose).
size_t cached_bytes(CachedImage& image, size_t extra_bytes_per_encoding);

class ImageCache {
 public:
  /// `budget_bytes` = 0 keeps nothing.
  ImageCache(size_t budget_bytes, size_t extra_bytes_per_encoding);

  /// The entry for these file bytes: a cached one (hit = true) or a new one made with `decode`
  /// (which may throw), inserted as most recently used.
  template <typename Decode>
  std::shared_ptr<CachedImage> get(const std::string& bytes, Decode decode, bool& hit);

  /// Recounts an entry after a lazily made member was added, evicting least recently used
  /// entries beyond the budget (entries in use stay alive through their shared_ptr).
  void update(const std::shared_ptr<CachedImage>& image);

  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    size_t hits = 0;
    size_t misses = 0;
  };
  Stats stats() const;

 private:
  struct Slot {
    std::shared_ptr<CachedImage> image;
    size_t bytes = 0;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  std::shared_ptr<CachedImage> find(const std::string& key);
  void insert(const std::shared_ptr<CachedImage>& image);
  void evict_locked();

  const size_t budget_;
  const size_t extra_per_encoding_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Slot> slots_;
  std::list<std::string> lru_;
  size_t bytes_ = 0;
  size_t hits_ = 0, misses_ = 0;
};

/// Hex SHA-256 of a byte string (the cache key).
std::string content_hash(const std::string& bytes);

template <typename Decode>
std::shared_ptr<CachedImage> ImageCache::get(const std::string& bytes, Decode decode, bool& hit) {
  const std::string key = content_hash(bytes);
  if (auto image = find(key)) {
    hit = true;
    return image;
  }
  hit = false;
  auto image = std::make_shared<CachedImage>();
  image->key = key;
  image->rgb = decode();
  insert(image);
  return image;
}

}  // namespace regionlm::server
