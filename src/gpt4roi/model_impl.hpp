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
  std::string first_turn_prefix;       // LoadOptions::first_turn_prefix
};

}  // namespace regionlm::gpt4roi
