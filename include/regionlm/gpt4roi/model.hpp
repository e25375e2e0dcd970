#pragma once
// GPT4RoI's loaded parts and tensor steps (as regionlm::Osprey is Osprey's): CLIP tower,
// mm_projector, region branch (spi_module), LLaMA decoder and tokenizer. regionlm::Model::load
// builds one for a directory whose config.json names SPILlavaMPTForCausalLM and serves
// describe, describe_each and chat through it (Model::gpt4roi() returns it):
//
//   image --encode--> image tokens + fused region pyramid
//   boxes --region_features--> one feature per box
//   question --layout--> token ids with the image block and one <bbox> per box --embed--> decoder input
//
// Threads: immutable after load; its const methods may run concurrently.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "regionlm/gpt4roi/box.hpp"
#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::gpt4roi {

/// Where and how Model::load puts the weights.
struct LoadOptions {
  torch::Device device = torch::kCPU;      // every module's device
  torch::ScalarType dtype = torch::kFloat32;  // CLIP tower, projector and decoder; the region
                                              // branch always runs in float32
  std::filesystem::path vision_tower;      // CLIP directory; "" = config.json's mm_vision_tower
                                           // (relative paths against the model directory; a hub
                                           // id such as openai/clip-vit-large-patch14 is looked
                                           // up in the local Hugging Face cache)
  std::string first_turn_prefix = kFirstTurnPrefix;  // text before the first question, "<image>"
                                                     // once (ConfigError otherwise)
  bool pack_cpu_weights = true;  // the same layers in oneDNN's CPU layout when float32 on the CPU
                                 // (regionlm::LoadOptions::pack_cpu_weights). Default true.
  bool quantize_int8 = false;  // weight-only int8 (layers::Linear::quantize_int8) of the decoder's
                               // linear layers and the projector, once the decoder has loaded in
                               // `dtype` (so loading briefly holds it in float); tower and region
                               // branch stay float. Default false.
  /// Loading progress: fraction done in [0, 1] and the stage ("vision tower", "decoder", ...).
  /// Default: none.
  std::function<void(double fraction, const std::string& stage)> on_progress;
};

/// An image run through the CLIP tower once.
struct EncodedImage {
  torch::Tensor image_tokens;                // [N, hidden] decoder dtype: projected patch tokens
  std::vector<torch::Tensor> region_levels;  // the fused pyramid, num_levels x [1, C, side, side]
                                             // float32 (box-independent, so computed once here)
  int width = 0;                             // original width, px (boxes are normalised by it)
  int height = 0;                            // original height, px
};

class Model {
 public:
  /// Loads a GPT4RoI directory (config.json naming SPILlavaMPTForCausalLM, tokenizer.model +
  /// added_tokens.json, weights as torch `.bin` shards / safetensors with model.mm_projector.*
  /// and model.spi_module.*) and the CLIP directory. Throws IoError / FormatError / ConfigError
  /// / WeightError naming the file or key at fault.
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});
  /// As above with config.json already parsed (regionlm::Model::load reads it once).
  static Model load(const std::filesystem::path& dir, Gpt4roiConfig config, const LoadOptions& options);

  /// Preprocesses (shortest side to the CLIP size with Pillow bicubic, normalise, bilinear
  /// squash) and runs the tower, the projector and the box-independent part of the region
  /// branch (pyramid + level fuse, most of its cost). `image_rgb8`: CV_8UC3 RGB
  /// (vision::to_rgb8).
  EncodedImage encode(const cv::Mat& image_rgb8) const;

  /// Region features [K, hidden] (decoder dtype) of `boxes`. Throws ArgumentError naming the box
  /// for a non-finite, zero-area or inverted box and for one reaching outside the image.
  torch::Tensor region_features(const EncodedImage& image, const std::vector<Box>& boxes) const;

  /// The decoder input for `question` after `history` (see gpt4roi::build_prompt), the first
  /// question after LoadOptions::first_turn_prefix.
  PromptLayout layout(const std::vector<text::Turn>& history, const std::string& question,
                      int64_t num_regions, bool require_all_regions) const;

  const Gpt4roiConfig& config() const;
  const text::Tokenizer& tokenizer() const;
  const llm::Llama& decoder() const;
  /// dtype and device of the tower, projector and decoder (the region branch is float32).
  const torch::TensorOptions& options() const;
  /// Image tokens per image (<im_patch> positions): the tower's patch count, 256 for CLIP-L/14.
  int64_t image_token_count() const;
  /// Checkpoint keys no module used (sorted; rotary inv_freq buffers not counted).
  const std::vector<std::string>& unused_keys() const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace regionlm::gpt4roi
