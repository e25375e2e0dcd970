#pragma once
// CLIP ViT vision tower as GPT4RoI uses it (HF `CLIPVisionModel`, checkpoint prefix
// `vision_model.`): patch + class + position embeddings, pre_layrnorm, encoder layers. It
// returns chosen hidden states (index 0 = embeddings after pre_layrnorm, k = output of
// encoder layer k), the way `output_hidden_states=True` numbers them; post_layernorm is never
// applied by GPT4RoI and is not loaded.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/gpt4roi/clip_encoder_layer.hpp"
#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/vision/layers.hpp"

namespace regionlm::gpt4roi {

/// HF `CLIPVisionEmbeddings`: class_embedding [D], patch_embedding (Conv2d, no bias)
/// weight [D, C, P, P], position_embedding.weight [1 + N, D].
class ClipEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipEmbeddingsImpl(const ClipVisionConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B, C, S, S] -> [B, 1 + N, D]

  torch::Tensor class_embedding;          // [D]
  torch::Tensor patch_weight;             // [D, C, P, P] (patch_embedding.weight)
  torch::Tensor position_weight;          // [1 + N, D] (position_embedding.weight)

 private:
  int64_t patch_size_;
};
TORCH_MODULE(ClipEmbeddings);

class ClipVisionTowerImpl : public torch::nn::Module {
 public:
  /// Uninitialised parameters with `options` (dtype, device).
  ClipVisionTowerImpl(const ClipVisionConfig& config, const torch::TensorOptions& options);

  /// pixels [B, C, S, S] (S = image_size; converted to the tower's dtype, must be on its
  /// device) -> the hidden states at `indices` ([B, 1 + N, D] each, CLS first), in the order
  /// asked. Layers after the largest index are not run. Throws ShapeError for a wrong shape or
  /// device, ArgumentError for an index outside [0, num_hidden_layers].
  std::vector<torch::Tensor> forward(const torch::Tensor& pixels, const std::vector<int64_t>& indices);

  const ClipVisionConfig& config() const { return config_; }
  torch::TensorOptions options() const;

  ClipEmbeddings embeddings{nullptr};
  vision::LayerNorm pre_layrnorm{nullptr};  // (sic: the checkpoint's spelling)
  torch::nn::ModuleList encoder_layers{nullptr};  // registered as encoder.layers

 private:
  ClipVisionConfig config_;
  std::vector<ClipEncoderLayer> layers_;  // the modules of encoder_layers, typed
};
TORCH_MODULE(ClipVisionTower);

/// Builds a tower with `options` and fills it from `weights` (keys `prefix` + "embeddings.…",
/// "pre_layrnorm.…", "encoder.layers.N.…"). Throws WeightError naming every missing or
/// misshapen key and the checkpoint.
ClipVisionTower load_clip_vision_tower(const Weights& weights, const ClipVisionConfig& config,
                                       const torch::TensorOptions& options,
                                       const std::string& prefix = "vision_model.");
/// Reads a Hugging Face CLIP directory (config.json + weights, e.g. a download of
/// openai/clip-vit-large-patch14: a whole CLIPModel whose text half is ignored).
ClipVisionTower load_clip_vision_tower(const std::filesystem::path& dir,
                                       const torch::TensorOptions& options);

}  // namespace regionlm::gpt4roi
