#pragma once
// The loaded model behind regionlm::Model: the Osprey composition or GPT4RoI's parts (by
// config.json's architectures), tokenizer and prompt template, immutable after load and shared
// by every Model copy, EncodedImage check and ChatSession.
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/batcher.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/osprey.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::pipeline {

struct ModelImpl {
  ModelImpl(Osprey osprey_, text::Tokenizer tokenizer_, text::ConversationTemplate conversation_)
      : osprey(std::move(osprey_)), tokenizer(std::move(tokenizer_)), conversation(std::move(conversation_)) {}
  ModelImpl(regionlm::gpt4roi::Model gpt4roi_, text::ConversationTemplate conversation_)
      : family(ModelFamily::Gpt4roi),
        osprey(nullptr),
        gpt4roi(std::move(gpt4roi_)),
        tokenizer(gpt4roi->tokenizer()),
        conversation(std::move(conversation_)) {}

  ModelFamily family = ModelFamily::Osprey;
  // torch's forward() methods are non-const although inference never changes the weights;
  // `mutable` lets the immutable ModelImpl run them from any thread.
  mutable Osprey osprey;                  // Osprey's composition; empty for GPT4RoI
  std::optional<regionlm::gpt4roi::Model> gpt4roi;  // GPT4RoI's parts (src/pipeline/gpt4roi_family.cpp)
  text::Tokenizer tokenizer;
  text::ConversationTemplate conversation;  // template, its image_prefix as chosen at load
  std::vector<std::string> unused_keys;     // checkpoint keys no module consumed
  text::UnmentionedRegions unmentioned = text::UnmentionedRegions::Introduce;  // LoadOptions::strict_regions
  bool reuse_image_prefix = true;           // LoadOptions::reuse_image_prefix
  std::shared_ptr<const llm::Batcher> batcher;  // LoadOptions::batch_rows > 1; null otherwise
  /// The decoder (both families).
  const llm::Llama& decoder() const { return gpt4roi ? gpt4roi->decoder() : osprey->llama; }

  const OspreyConfig& config() const { return osprey->config(); }  // Osprey only
  /// The decoder's configuration (both families).
  const LlamaConfig& text_config() const { return gpt4roi ? gpt4roi->config().text : osprey->config().text; }
  /// Model dtype on the model device: vision inputs, decoder embeddings, KV caches.
  const torch::TensorOptions& options() const { return gpt4roi ? gpt4roi->options() : osprey->options(); }
  torch::Device device() const { return options().device(); }
  torch::ScalarType dtype() const { return c10::typeMetaToScalarType(options().dtype()); }
};

}  // namespace regionlm::pipeline
