#pragma once
// regionlm::Model: an Osprey checkpoint loaded for inference, and the calls users make —
// describe regions of an image, ask the same question of each region, or chat.
//
//   auto model = regionlm::Model::load("models/Osprey-7b");
//   auto image = model.encode("street.jpg");
//   auto answer = model.describe(image, {regionlm::Region::from_box(40, 60, 200, 310)},
//                                regionlm::prompts::kShortDescription);
//
// Threads: a Model is immutable after load. All its const methods may be called from any
// number of threads at once on one Model (weights are shared, never copied); each call
// keeps its own decoding state. A ChatSession is per conversation and not thread-safe
// itself: use one per thread (any number per Model).
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "regionlm/answer.hpp"
#include "regionlm/chat.hpp"
#include "regionlm/config.hpp"
#include "regionlm/encoded_image.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm {

/// How Model::load places and converts the weights.
struct LoadOptions {
  std::string device;  // "cpu", "cuda", "cuda:1"; "" = CUDA when available, else CPU
  std::string dtype;   // "float32", "bfloat16", "float16"; "" = bfloat16 on CUDA, float32 on CPU.
                       // Vision trunk, projector and decoder run in it; the mask extractor
                       // always runs in float32, as Osprey's does.
  /// Loading progress: fraction done in [0, 1] and the current stage ("decoder", ...);
  /// called on the loading thread. Default: none.
  std::function<void(double fraction, const std::string& stage)> on_progress;
  /// Checkpoint keys that no module uses (e.g. a CLIP head) are reported by
  /// Model::unused_keys(); false makes them a WeightError instead. Default true.
  bool allow_unexpected_keys = true;
  /// The open_clip vision file, read only when the checkpoint itself has no vision weights.
  /// "" = config.json's `mm_vision_tower` (relative paths against the model directory).
  std::filesystem::path vision_tower;
  /// Text before the first question, `<image>` marking the image tokens. "" = the model
  /// directory's config.json `"image_prefix"` when present, else the template's own
  /// (osprey_v1: prompts::kImagePrefix, Osprey's demo prefix).
  std::string image_prefix;
  /// Conversation template name ("osprey_v1", "vicuna_v1"; see text/conversation.hpp).
  /// "" = config.json `"conversation_template"` when present, else "osprey_v1".
  std::string conversation_template;
};

namespace pipeline {
struct ModelImpl;
}

class Model {
 public:
  /// Loads a Hugging Face-layout Osprey directory: config.json, tokenizer.model,
  /// added_tokens.json (+ tokenizer_config.json / special_tokens_map.json), and weights as
  /// sharded torch `.bin` with pytorch_model.bin.index.json, a single file, or safetensors.
  /// Vision weights come from the checkpoint (`model.vision_tower.vision_tower.visual.trunk.`)
  /// when present, else from the open_clip file named by `mm_vision_tower` (relative paths
  /// are resolved against `dir`). Throws IoError (missing files), ConfigError (bad config or
  /// options), FormatError (corrupt files) or one WeightError listing every missing or
  /// misshapen weight.
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});

  /// Runs the vision trunk and projector once. `image_rgb8`: CV_8UC3 in RGB order (gray,
  /// RGBA and 16-bit colour are converted as vision::to_rgb8 documents; OpenCV's imread
  /// gives BGR: convert it first or use the path overload). Throws ArgumentError for an
  /// unusable image, IoError / FormatError for an unreadable file.
  EncodedImage encode(const cv::Mat& image_rgb8) const;
  EncodedImage encode(const std::filesystem::path& image) const;

  /// Answers `prompt` about `regions` of the image. The prompt names regions with `<region>`
  /// (the next one in order) or `<region1>` .. `<regionN>` (explicit, may repeat); every
  /// region must be referenced. The library adds the image prefix and the conversation
  /// template. Region masks are at the image's size (height() x width()).
  /// Throws ArgumentError for placeholder/region mismatches, bad regions (naming the region),
  /// a prompt longer than the context, or an image from another Model.
  Answer describe(const EncodedImage& image, const std::vector<Region>& regions,
                  const std::string& prompt, const GenerationOptions& options = {}) const;
  Answer describe(const std::filesystem::path& image, const std::vector<Region>& regions,
                  const std::string& prompt, const GenerationOptions& options = {}) const;
  Answer describe(const cv::Mat& image_rgb8, const std::vector<Region>& regions,
                  const std::string& prompt, const GenerationOptions& options = {}) const;

  /// Asks the same question of every region, one answer per region in order (e.g.
  /// prompts::kShortDescription for each). `prompt` holds exactly one placeholder (`<region>`
  /// or `<region1>`). Decoded as one batch whose shared prompt prefix is computed once;
  /// answers equal those of describe(image, {region}, prompt) (up to floating-point
  /// reduction order). options.on_token is not supported here (use on_row_token).
  std::vector<Answer> describe_each(const EncodedImage& image, const std::vector<Region>& regions,
                                    const std::string& prompt,
                                    const GenerationOptions& options = {}) const;

  /// A multi-turn conversation about one image and its regions; each question may use the
  /// placeholders of `regions`. The session keeps its decoder state between turns.
  ChatSession chat(const EncodedImage& image, const std::vector<Region>& regions) const;

  const OspreyConfig& config() const;
  const text::Tokenizer& tokenizer() const;
  torch::Device device() const;
  /// dtype of the vision trunk, projector and decoder.
  torch::ScalarType dtype() const;
  /// Image prefix and conversation template in use (see LoadOptions).
  const std::string& image_prefix() const;
  const std::string& conversation_template() const;
  /// Checkpoint keys no module used (sorted; `rotary_emb.inv_freq` buffers not counted).
  const std::vector<std::string>& unused_keys() const;

 private:
  friend struct pipeline::Access;
  explicit Model(std::shared_ptr<const pipeline::ModelImpl> impl);
  std::shared_ptr<const pipeline::ModelImpl> impl_;  // immutable, shared by copies/sessions
};

}  // namespace regionlm
