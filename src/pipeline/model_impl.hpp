#pragma once
// The loaded model behind regionlm::Model: the Osprey composition, tokenizer and prompt
// template, immutable after load and shared by every Model copy, EncodedImage check and
// ChatSession.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "regionlm/osprey.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::pipeline {

struct ModelImpl {
  ModelImpl(Osprey osprey_, text::Tokenizer tokenizer_, text::ConversationTemplate conversation_)
      : osprey(std::move(osprey_)), tokenizer(std::move(tokenizer_)), conversation(std::move(conversation_)) {}

  // torch's forward() methods are non-const although inference never changes the weights;
  // `mutable` lets the immutable ModelImpl run them from any thread.
  mutable Osprey osprey;
  text::Tokenizer tokenizer;
  text::ConversationTemplate conversation;  // template, its image_prefix as chosen at load
  std::vector<std::string> unused_keys;     // checkpoint keys no module consumed
  text::UnmentionedRegions unmentioned = text::UnmentionedRegions::Introduce;  // LoadOptions::strict_regions

  const OspreyConfig& config() const { return osprey->config(); }
  /// Model dtype on the model device: vision inputs, decoder embeddings, KV caches.
  const torch::TensorOptions& options() const { return osprey->options(); }
  torch::Device device() const { return options().device(); }
  torch::ScalarType dtype() const { return c10::typeMetaToScalarType(options().dtype()); }
};

}  // namespace regionlm::pipeline
