#pragma once
// The Osprey architecture as one module: ConvNeXt trunk, projector, mask-aware extractor and
// LLaMA decoder, built from an OspreyConfig, with the checkpoint key prefix of each part and
// the tensor-level steps every user of the architecture runs (Model's inference and the
// tiny-shapes trainer alike):
//
//   pixels --vision_features--> res2..res5 --image_tokens--> [B, N, hidden]
//   res2..res5 + masks --region_tokens--> mask/position tokens
//   PromptLayout + image tokens + region tokens --embed--> decoder input [1, L, hidden]
//
// Steps are differentiable when run outside InferenceMode (training) and keep every tensor on
// the model's device. The checkpoint prefixes below are spelled nowhere else.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/region/mask_extractor.hpp"
#include "regionlm/region_tokens.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/vision/convnext.hpp"
#include "regionlm/vision/projector.hpp"

namespace regionlm {

/// Where Osprey's parts sit in its checkpoints.
namespace osprey_keys {
/// The vision trunk inside Osprey's own shards.
inline constexpr const char* kTrunk = "model.vision_tower.vision_tower.visual.trunk.";
/// The same trunk inside an open_clip file (what config.json's mm_vision_tower names).
inline constexpr const char* kClipTrunk = "visual.trunk.";
inline constexpr const char* kProjector = "model.mm_projector.";
inline constexpr const char* kExtractor = "mask_extractor.";
/// The decoder's own parameter names are the checkpoint's (model.*, lm_head.*).
inline constexpr const char* kDecoder = "";
}  // namespace osprey_keys

class OspreyImpl : public torch::nn::Module {
 public:
  /// Builds every part for `config` with uninitialised weights: trunk, projector and decoder
  /// with `options` (dtype, device), the extractor in float32 on the same device, as Osprey
  /// runs it. Throws ConfigError for unsupported hyper-parameters.
  OspreyImpl(OspreyConfig config, const torch::TensorOptions& options);

  /// One part and its checkpoint prefix.
  struct Part {
    std::string name;            // "decoder", "projector", "vision", "mask extractor"
    torch::nn::Module* module;   // owned by this Osprey
    std::string prefix;          // osprey_keys::*
  };
  /// The four parts, in checkpoint order (decoder, projector, trunk, extractor).
  std::vector<Part> parts();

  /// Every weight under its checkpoint key (contiguous, detached), in parts() order.
  std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors();

  /// pixels [B, 3, S, S] (vision::preprocess) -> trunk stage outputs res2..res5,
  /// [B, C_l, S / 2^(l+2), S / 2^(l+2)] each, model dtype.
  std::vector<torch::Tensor> vision_features(const torch::Tensor& pixels);
  /// Stage outputs -> image tokens [B, N, hidden] (the projector on stage token_level).
  torch::Tensor image_tokens(const std::vector<torch::Tensor>& features);
  /// One image's stage outputs ([1, C, h, w] each) and its region masks [Q, H, W] (0/1 at the
  /// image's size) -> mask and position tokens [Q, hidden] each in the model dtype (the
  /// extractor itself computes in float32).
  RegionTokens region_tokens(const std::vector<torch::Tensor>& features, const torch::Tensor& masks);
  /// Decoder input [1, L, hidden] of a layout: text ids through the decoder's embedding
  /// table, the image block from `image_tokens` [N, hidden] (may be [0, hidden] for a layout
  /// without image), each region pair from `regions`. ShapeError when they do not match.
  torch::Tensor embed(const text::PromptLayout& layout, const torch::Tensor& image_tokens,
                      const RegionTokens& regions) const;

  /// Image tokens one image becomes: (image_size / 2^(token_level + 2))^2. Known before
  /// encoding, so prompt layouts can be built first.
  int64_t image_token_count() const;

  const OspreyConfig& config() const { return config_; }
  /// dtype and device of the trunk, projector and decoder (the decoder inputs' options).
  const torch::TensorOptions& options() const { return options_; }

  vision::ConvNeXt trunk{nullptr};
  vision::Projector projector{nullptr};
  region::MaskExtractor mask_extractor{nullptr};
  llm::Llama llama{nullptr};

 private:
  OspreyConfig config_;
  torch::TensorOptions options_;
};
TORCH_MODULE(Osprey);

/// Writes `osprey` as the weights and config of a model directory: config.json
/// (osprey_config_json) and model.safetensors (checkpoint_tensors, float32 kept as is).
/// The tokenizer files are the caller's. Throws IoError when a file cannot be written.
void save_osprey(Osprey& osprey, const std::filesystem::path& dir);

}  // namespace regionlm
