#pragma once
// A GPT4RoI checkpoint loaded for inference (standalone; see docs/gpt4roi.md for how it joins
// regionlm::Model). The low-level steps are public: encode an image once, turn boxes into
// region features, lay out a prompt, embed it, generate; describe() and chat() combine them.
//
//   auto model = regionlm::gpt4roi::Model::load("models/GPT4RoI-7B");
//   auto image = model.encode(regionlm::vision::load_image("street.jpg"));
//   auto answer = model.describe(image, {{40, 60, 200, 310}}, "What is <region1> doing?");
//
// Threads: a Model is immutable after load; its const methods may run concurrently. A
// ChatSession is one conversation and not thread-safe itself.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "regionlm/answer.hpp"
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
};

/// An image run through the CLIP tower once.
struct EncodedImage {
  torch::Tensor image_tokens;                // [N, hidden] decoder dtype: projected patch tokens
  std::vector<torch::Tensor> region_levels;  // the fused pyramid, num_levels x [1, C, side, side]
                                             // float32 (box-independent, so computed once here)
  int width = 0;                             // original width, px (boxes are normalised by it)
  int height = 0;                            // original height, px
};

/// An answer, with the regions it names ("region2" -> input region 1).
struct Answer : regionlm::Answer {
  std::vector<RegionMention> mentions;  // in text order
  std::vector<std::string> notes;       // e.g. a mask region used as its bounding box
};

class ChatSession;

class Model {
 public:
  /// Loads a GPT4RoI directory (config.json naming SPILlavaMPTForCausalLM, tokenizer.model +
  /// added_tokens.json, weights as torch `.bin` shards / safetensors with model.mm_projector.*
  /// and model.spi_module.*) and the CLIP directory. Throws IoError / FormatError / ConfigError
  /// / WeightError naming the file or key at fault.
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});

  /// Preprocesses (shortest side to the CLIP size with Pillow bicubic, normalise, bilinear
  /// squash) and runs the tower, the projector and the box-independent part of the region
  /// branch (pyramid + level fuse, most of its cost). `image_rgb8`: CV_8UC3 RGB
  /// (vision::to_rgb8).
  EncodedImage encode(const cv::Mat& image_rgb8) const;

  /// Region features [K, hidden] (decoder dtype) of `boxes`. Throws ArgumentError naming the box
  /// for a non-finite, zero-area or inverted box and for one reaching outside the image.
  torch::Tensor region_features(const EncodedImage& image, const std::vector<Box>& boxes) const;

  /// The decoder input for `question` after `history` (see gpt4roi::build_prompt).
  PromptLayout layout(const std::vector<text::Turn>& history, const std::string& question,
                      int64_t num_regions, bool require_all_regions) const;

  /// Embeddings [1, L, hidden] of a layout: token embeddings with the image tokens at the
  /// <im_patch> positions and each <bbox> replaced by its region's feature.
  /// ShapeError when the tensors do not fit the layout.
  torch::Tensor embed(const PromptLayout& layout, const EncodedImage& image,
                      const torch::Tensor& region_features) const;

  /// Answers `prompt` (placeholders <region1> .. <regionK>, every box referenced). Generation
  /// also stops at "###"; the answer is cleaned as GPT4RoI's demo does.
  Answer describe(const EncodedImage& image, const std::vector<Box>& boxes, const std::string& prompt,
                  const GenerationOptions& options = {}) const;

  /// describe() for regionlm::Regions of any kind: each becomes its bounding box (boxes_of at
  /// the image's size) and every conversion of a non-box region is noted in Answer::notes.
  Answer describe_regions(const EncodedImage& image, const std::vector<Region>& regions,
                          const std::string& prompt, const GenerationOptions& options = {}) const;

  /// Asks the same question of every box, one answer per box in order: `prompt` names the box
  /// `<region1>` (or `<region>`). Each answer equals describe(image, {box}, prompt); the image
  /// is encoded (and its region pyramid fused) only once.
  std::vector<Answer> describe_each(const EncodedImage& image, const std::vector<Box>& boxes,
                                    const std::string& prompt, const GenerationOptions& options = {}) const;

  /// A conversation about one image and its boxes; a box may be first referenced in any turn.
  ChatSession chat(const EncodedImage& image, const std::vector<Box>& boxes) const;

  const Gpt4roiConfig& config() const;
  const text::Tokenizer& tokenizer() const;
  const llm::Llama& decoder() const;
  /// Checkpoint keys no module used (sorted; rotary inv_freq buffers not counted).
  const std::vector<std::string>& unused_keys() const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

/// Keeps the decoder's KV cache between turns: each turn re-lays out the whole conversation (as
/// GPT4RoI does) and prefills only the positions after the longest prefix already cached.
class ChatSession {
 public:
  ChatSession(ChatSession&&) noexcept;
  ChatSession& operator=(ChatSession&&) noexcept;
  ~ChatSession();

  /// Answers `question` after the earlier turns. ArgumentError for bad placeholders or a
  /// conversation too long for the context; the session is then unchanged.
  Answer ask(const std::string& question, const GenerationOptions& options = {});
  const std::vector<text::Turn>& history() const;
  int64_t cached_positions() const;

  struct State;

 private:
  friend class Model;
  explicit ChatSession(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace regionlm::gpt4roi
