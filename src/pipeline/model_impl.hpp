#pragma once
// The loaded model behind regionlm::Model: configuration, tokenizer and the four modules,
// immutable after load and shared by every Model copy, EncodedImage check and ChatSession.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/region/mask_extractor.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/tokenizer.hpp"
#include "regionlm/vision/convnext.hpp"
#include "regionlm/vision/projector.hpp"

namespace regionlm::pipeline {

struct ModelImpl {
  ModelImpl(OspreyConfig config_, text::Tokenizer tokenizer_)
      : config(std::move(config_)), tokenizer(std::move(tokenizer_)) {}

  OspreyConfig config;
  text::Tokenizer tokenizer;
  text::ConversationTemplate conversation;  // template, its image_prefix as chosen at load
  torch::Device device{torch::kCPU};  // where every module and activation lives
  torch::ScalarType dtype = torch::kFloat32;  // vision, projector and decoder dtype

  // torch's forward() methods are non-const although inference never changes the weights;
  // `mutable` lets the immutable ModelImpl call them from any thread.
  mutable vision::ConvNeXt vision{nullptr};
  mutable vision::Projector projector{nullptr};
  mutable region::MaskExtractor extractor{nullptr};  // float32, as Osprey runs it
  llm::Llama llama{nullptr};

  std::vector<std::string> unused_keys;  // checkpoint keys no module consumed

  /// Model dtype on the model device: vision inputs, decoder embeddings, KV caches.
  torch::TensorOptions options() const { return torch::TensorOptions().device(device).dtype(dtype); }
};

/// Builds the modules for `config` on `device` in `dtype` (extractor in float32) with
/// uninitialised weights. Also used by tests to run the forward path on the `meta` device.
/// Throws ConfigError for inconsistent widths (projector input vs trunk stage, ...).
void build_modules(ModelImpl& impl);

}  // namespace regionlm::pipeline
