#pragma once
// What a ChatSession holds between turns.
#include <memory>
#include <vector>

#include "pipeline/inference.hpp"
#include "regionlm/llm/kv_cache.hpp"

namespace regionlm::pipeline {

struct ChatState {
  explicit ChatState(Model model_) : model(std::move(model_)) {}
  Model model;                   // shared weights; its public steps lay out and embed each turn
  EncodedImage image;            // keeps the features alive
  RegionTokens regions;          // computed once, [Q, hidden] each (GPT4RoI: one token per region)
  std::vector<text::Turn> history;
  std::unique_ptr<llm::KVCache> cache;  // batch 1; grows (by copy) when a turn needs more room
  /// The image's shared system-text + image prefix (LoadOptions::reuse_image_prefix), which
  /// `cache` continues; null when not reused. Its signature always starts `cached`.
  std::shared_ptr<const llm::KVCache> prefix;
  std::vector<int64_t> prefix_signature;
  double prefix_ms = 0;  // prefill of that prefix when this chat made it (reported once)
  /// layout_signature() of what the first positions of `cache` hold; the cache may hold
  /// more (stale positions after a failed turn), which the next turn truncates.
  std::vector<int64_t> cached;
};

/// Makes `state.cache` hold at least `capacity` positions, keeping its first `keep` (a new
/// cache, grown geometrically within the context, when the current one is too small).
void ensure_capacity(ChatState& state, int64_t capacity, int64_t keep);

/// Model::chat: validates the image and computes the region tokens once.
ChatSession start_chat(const std::shared_ptr<const ModelImpl>& model, const EncodedImage& image,
                       const std::vector<Region>& regions);

}  // namespace regionlm::pipeline
