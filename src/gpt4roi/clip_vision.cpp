#include "regionlm/gpt4roi/clip_vision.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "shape_text.hpp"

namespace regionlm::gpt4roi {

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const ClipVisionConfig& config,
                                       const torch::TensorOptions& options)
    : patch_size_(config.patch_size) {
  const int64_t d = config.hidden_size;
  class_embedding = register_parameter("class_embedding", torch::empty({d}, options));
  auto patch = std::make_shared<torch::nn::Module>("patch_embedding");
  patch_weight = patch->register_parameter(
      "weight", torch::empty({d, config.num_channels, config.patch_size, config.patch_size}, options));
  register_module("patch_embedding", patch);
  auto position = std::make_shared<torch::nn::Module>("position_embedding");
  position_weight =
      position->register_parameter("weight", torch::empty({config.num_patches() + 1, d}, options));
  register_module("position_embedding", position);
}

torch::Tensor ClipEmbeddingsImpl::forward(const torch::Tensor& pixels) {
  // Parameters may have been re-pointed by load_module (set_data keeps the handles valid).
  auto patches = torch::conv2d(pixels, patch_weight, /*bias=*/{}, patch_size_);  // [B, D, g, g]
  patches = patches.flatten(2).transpose(1, 2);                                  // [B, N, D]
  const auto cls = class_embedding.view({1, 1, -1}).expand({pixels.size(0), 1, -1});  // [B, 1, D]
  return torch::cat({cls, patches}, 1) + position_weight.unsqueeze(0);  // [B, 1 + N, D]
}

ClipVisionTowerImpl::ClipVisionTowerImpl(const ClipVisionConfig& config,
                                         const torch::TensorOptions& options)
    : config_(config) {
  embeddings = register_module("embeddings", ClipEmbeddings(config, options));
  pre_layrnorm = register_module(
      "pre_layrnorm", vision::LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  auto encoder = std::make_shared<torch::nn::Module>("encoder");
  encoder_layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers_.push_back(ClipEncoderLayer(config, options));
    encoder_layers->push_back(layers_.back());
  }
  encoder->register_module("layers", encoder_layers);
  register_module("encoder", encoder);
}

torch::TensorOptions ClipVisionTowerImpl::options() const {
  return embeddings->class_embedding.options();
}

std::vector<torch::Tensor> ClipVisionTowerImpl::forward(const torch::Tensor& pixels,
                                                        const std::vector<int64_t>& indices) {
  const int64_t s = config_.image_size;
  if (pixels.dim() != 4 || pixels.size(1) != config_.num_channels || pixels.size(2) != s ||
      pixels.size(3) != s || !pixels.is_floating_point()) {
    throw ShapeError("ClipVisionTower: expected floating-point pixels [B, " +
                     std::to_string(config_.num_channels) + ", " + std::to_string(s) + ", " +
                     std::to_string(s) + "], got " + shape_text(pixels.sizes()));
  }
  if (pixels.device() != options().device()) {
    throw ShapeError("ClipVisionTower: pixels are on " + pixels.device().str() +
                     " but the tower's weights on " + options().device().str());
  }
  int64_t last = 0;
  for (const int64_t i : indices) {
    if (i < 0 || i > config_.num_hidden_layers) {
      throw ArgumentError("ClipVisionTower: hidden state index " + std::to_string(i) +
                          " is outside [0, " + std::to_string(config_.num_hidden_layers) + "]");
    }
    last = std::max(last, i);
  }
  std::vector<torch::Tensor> states;  // states[k]: hidden state k, [B, 1 + N, D]
  auto h = pre_layrnorm(embeddings(pixels.to(options().dtype())));  // [B, 1 + N, D]
  states.push_back(h);
  for (int64_t k = 0; k < last; ++k) {
    h = layers_[static_cast<size_t>(k)](h);  // [B, 1 + N, D]
    states.push_back(h);
  }
  std::vector<torch::Tensor> out;
  for (const int64_t i : indices) out.push_back(states[static_cast<size_t>(i)]);
  return out;
}

ClipVisionTower load_clip_vision_tower(const Weights& weights, const ClipVisionConfig& config,
                                       const torch::TensorOptions& options,
                                       const std::string& prefix) {
  ClipVisionTower tower(config, options);
  load_module(*tower, weights, prefix);
  return tower;
}

ClipVisionTower load_clip_vision_tower(const std::filesystem::path& dir,
                                       const torch::TensorOptions& options) {
  const ClipVisionConfig config = load_clip_vision_config(dir);
  return load_clip_vision_tower(load_weights(dir), config, options);
}

}  // namespace regionlm::gpt4roi
