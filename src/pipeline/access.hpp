#pragma once
// The pipeline's private view of its public value types (EncodedImage, Model).
#include <memory>
#include <mutex>
#include <vector>

#include "pipeline/model_impl.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/encoded_image.hpp"
#include "regionlm/model.hpp"

namespace regionlm {

struct EncodedImage::Data {
  std::weak_ptr<const pipeline::ModelImpl> owner;  // the model whose trunk made the features
  int height = 0;                              // original image size, px
  int width = 0;
  std::vector<torch::Tensor> features;  // [1, C, h, w] per stage, model dtype/device
  torch::Tensor image_tokens;           // [N, hidden], model dtype/device
  double encode_ms = 0;

  /// The decoder state after the part every question about this image starts with (system
  /// text through the image tokens), made at the first question that needs it and shared by
  /// every later one (LoadOptions::reuse_image_prefix). Guarded by `prefix_mutex`.
  mutable std::mutex prefix_mutex;
  mutable std::shared_ptr<const llm::KVCache> prefix;   // batch 1, exactly the prefix's positions
  mutable std::vector<int64_t> prefix_signature;       // pipeline::layout_signature of those positions
};

namespace pipeline {

struct Access {
  static EncodedImage make_image(std::shared_ptr<const EncodedImage::Data> data) {
    EncodedImage image;
    image.data_ = std::move(data);
    return image;
  }
  /// The image's data; ArgumentError when it is empty or was made by another model.
  static const EncodedImage::Data& data(const EncodedImage& image, const ModelImpl& model);
  static Model make_model(std::shared_ptr<const ModelImpl> impl) { return Model(std::move(impl)); }
  static const std::shared_ptr<const ModelImpl>& impl(const Model& model) { return model.impl_; }
  static ChatSession make_chat(std::unique_ptr<ChatState> state);  // in chat_session.cpp
};

}  // namespace pipeline
}  // namespace regionlm
