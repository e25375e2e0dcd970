#pragma once
// What a loaded gpt4roi::Model holds (internal).
#include <string>
#include <vector>

#include "regionlm/gpt4roi/clip_vision.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/gpt4roi/spi_module.hpp"
#include "regionlm/layers/linear.hpp"

namespace regionlm::gpt4roi {

struct Model::Impl {
  explicit Impl(text::Tokenizer tok) : tokenizer(std::move(tok)) {}

  Gpt4roiConfig config;
  HiddenStateIndices layers;  // which CLIP hidden states feed the image tokens and the regions
  text::Tokenizer tokenizer;
  // Forward passes keep no state in the modules; `mutable` because torch::nn holders only
  // offer non-const calls.
  mutable ClipVisionTower tower{nullptr};     // decoder dtype
  mutable layers::Linear projector{nullptr};  // model.mm_projector, decoder dtype
  mutable SpiModule spi{nullptr};             // model.spi_module, float32
  llm::Llama llama{nullptr};
  torch::TensorOptions options;        // decoder dtype and device
  std::vector<std::string> unused;

  /// Generates after `cache` from embeds [1, T, H] (the positions of `layout` not cached yet);
  /// "###" is added to the stop strings, the answer cleaned and its region mentions found.
  /// `cache_final_token`: leave every returned token in the cache (a chat continues from it).
  Answer generate(llm::KVCache& cache, const torch::Tensor& embeds, const PromptLayout& layout,
                  const GenerationOptions& options, int64_t num_regions, bool cache_final_token) const;
};

}  // namespace regionlm::gpt4roi
