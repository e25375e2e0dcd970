#pragma once
// regionlm::Model: an Osprey or GPT4RoI checkpoint loaded for inference (the family is read
// from config.json's `architectures`). Two levels, as llama.cpp's mtmd:
//
// One-call helpers — describe regions of an image, ask the same question of each region, chat:
//   auto model = regionlm::Model::load("models/Osprey-7b");
//   auto image = model.encode("street.jpg");
//   auto answer = model.describe(image, {regionlm::Region::from_box(40, 60, 200, 310)},
//                                regionlm::prompts::kShortDescription);
//
// The low-level steps the helpers are made of (docs/api.md shows both):
//   encode (image) -> encode_regions -> layout (prompt -> chunks whose lengths are known
//   before anything is encoded) -> embed (decoder input) -> generate.
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
#include "regionlm/generation_options.hpp"
#include "regionlm/llm/batcher_stats.hpp"
#include "regionlm/osprey.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/region_tokens.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm {

/// How Model::load places and converts the weights.
struct LoadOptions {
  std::string device;  // "cpu", "cuda", "cuda:1"; "" = CUDA when available, else CPU
  std::string dtype;   // "float32", "bfloat16", "float16"; "" = bfloat16 on CUDA, float32 on CPU.
                       // Vision trunk, projector and decoder run in it; the region branch (Osprey's
                       // mask extractor, GPT4RoI's spi_module) always runs in float32, as theirs do.
  /// Loading progress: fraction done in [0, 1] and the current stage ("decoder", ...);
  /// called on the loading thread. Default: none.
  std::function<void(double fraction, const std::string& stage)> on_progress;
  /// Checkpoint keys that no module uses (e.g. a CLIP head) are reported by
  /// Model::unused_keys(); false makes them a WeightError instead. Default true.
  bool allow_unexpected_keys = true;
  /// Osprey: the open_clip vision file, read only when the checkpoint itself has no vision
  /// weights. GPT4RoI: the CLIP ViT directory (HF layout; its checkpoint never holds the
  /// tower), or a hub id such as "openai/clip-vit-large-patch14" looked up in the local
  /// Hugging Face cache. "" = config.json's `mm_vision_tower` (relative paths against the model
  /// directory).
  std::filesystem::path vision_tower;
  /// Text before the first question, `<image>` marking the image tokens (exactly once).
  /// "" = config.json's `"image_prefix"` when set, else the template's own (osprey_v1:
  /// prompts::kImagePrefix, Osprey's demo prefix; GPT4RoI: gpt4roi::kFirstTurnPrefix).
  std::string image_prefix;
  /// Conversation template name ("osprey_v1", "vicuna_v1"; see text/conversation.hpp).
  /// "" = config.json's `"conversation_template"` when set, else prompts::kConversationTemplate.
  /// GPT4RoI has one template, "llava_v0" ("###" turns); any other name is a ConfigError.
  std::string conversation_template;
  /// When a question (the first of a chat) leaves some regions unmentioned: false = introduce
  /// every region with Osprey's header ("Ther are N part regions in the picture: region1<mask>
  /// <pos>,..."), so any region may be asked about in any turn; true = ArgumentError naming the
  /// unmentioned regions (every region must be referenced). Default false. GPT4RoI has no
  /// such header: describe always needs every region referenced, a chat may name a region
  /// first in any turn.
  bool strict_regions = false;
  /// Keep, per EncodedImage, the decoder state after the part every question about it starts
  /// with (system text and image tokens), made at its first question, so that later questions
  /// (describe, describe_each, chat turns) prefill only their own tokens; all of them read
  /// that one stored copy. Costs that state's memory for as long as
  /// the EncodedImage lives: layers x 2 x (prefix positions) x hidden x dtype size, e.g.
  /// 32 x 2 x 1061 x 4096 x 2 B = 0.53 GiB for Osprey-7B in bfloat16. Default true.
  /// Both families (GPT4RoI's prefix: its system text and 256 image tokens).
  bool reuse_image_prefix = true;
  /// Weight-only quantization of the decoder's linear layers (projections and lm_head) and the
  /// projector: "" = none, "int8" = int8 with one scale per output channel, quantized as each
  /// layer loads (about 0.27x the float32 model's memory for Osprey-7B). The vision trunk,
  /// mask extractor and embeddings stay in `dtype`. Kernels: layers/linear.hpp. Default "".
  /// GPT4RoI: the same layers, quantized once its decoder has loaded (so loading briefly
  /// holds the float decoder); its CLIP tower and region branch stay in floating point.
  std::string quantize;
  /// On the CPU in float32, the same layers as `quantize` (decoder projections and lm_head,
  /// projector) keep their weights in oneDNN's blocked layout, made as each layer loads
  /// (layers::Linear::pack_for_cpu): same memory, no per-call repacking; with 2 threads decode
  /// and prefill measured ~1.6x faster, with exactly 1 thread a one-row decode step 8 % slower
  /// (docs/performance.md#cpu-weight-layout). Those layers' `weight` tensors are then not
  /// reachable through Model::osprey(). No effect elsewhere. Default true.
  bool pack_cpu_weights = true;
  /// Continuous batching: with N > 1, describe, chat turns and Model::generate of one row,
  /// called from many threads at once, join one running decode batch of up to N rows between
  /// its steps (llm::Batcher; the server's requests too). Each row keeps its own cache and
  /// gets the tokens it would get alone; on_step then runs on the batch's worker thread.
  /// describe_each decodes its regions as one batch of its own either way. 0 or 1 = every
  /// call decodes by itself on its own thread. Default 0.
  int64_t batch_rows = 0;
};

namespace pipeline {
struct ModelImpl;
}
namespace gpt4roi {
class Model;
}

class Model {
 public:
  /// Loads a Hugging Face-layout model directory: config.json, tokenizer.model,
  /// added_tokens.json (+ tokenizer_config.json / special_tokens_map.json), and weights as
  /// sharded torch `.bin` with pytorch_model.bin.index.json, a single file, or safetensors.
  /// config.json's `architectures` picks the family (ModelFamily): "OspreyLlamaForCausalLM"
  /// (or none) is Osprey, "SPILlavaMPTForCausalLM" GPT4RoI; any other is a ConfigError naming
  /// the file and 'architectures'.
  /// Osprey: vision weights come from the checkpoint (`model.vision_tower.vision_tower.visual.trunk.`)
  /// when present, else from the open_clip file named by `mm_vision_tower` (relative paths
  /// are resolved against `dir`). GPT4RoI: the CLIP tower from LoadOptions::vision_tower or
  /// `mm_vision_tower` (docs/gpt4roi.md). Throws IoError (missing files), ConfigError (bad
  /// config or options), FormatError (corrupt files) or WeightError (missing or misshapen
  /// weights; Osprey lists them all at once).
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});

  /// Runs the vision trunk and projector once. `image_rgb8`: CV_8UC3 in RGB order (gray,
  /// RGBA and 16-bit colour are converted as vision::to_rgb8 documents; OpenCV's imread
  /// gives BGR: convert it first or use the path overload). Throws ArgumentError for an
  /// unusable image, IoError / FormatError for an unreadable file.
  EncodedImage encode(const cv::Mat& image_rgb8) const;
  EncodedImage encode(const std::filesystem::path& image) const;

  // ---- Low-level steps -------------------------------------------------------------------

  /// Image tokens one encoded image contributes to a prompt (1024 for Osprey-7B, 256 for
  /// GPT4RoI-7B: its <im_patch> block, <im_start> / <im_end> being text). Known before any
  /// image is encoded.
  int64_t image_token_count() const;

  /// The region tokens of `regions` on `image` (masks at the image's size, height() x width()).
  /// Osprey: one mask token and one position token per region. GPT4RoI: one token per region
  /// (its box feature; RegionTokens' one-token form): a box region is used exactly as given and
  /// must lie inside the image, any other region becomes its bounding box, which
  /// RegionTokens::notes (and so every Answer made with them) records. Throws ArgumentError
  /// naming a bad region or box, or for an image from another Model.
  RegionTokens encode_regions(const EncodedImage& image, const std::vector<Region>& regions) const;

  /// The decoder input of a question as chunks (text ids, the image block, one pair per
  /// region placeholder) whose lengths are known before anything is encoded: the image
  /// prefix, the conversation template, the answered `history` turns, then `prompt` and the
  /// assistant's cue. The prompt names regions with `<region>` (the next one in order) or
  /// `<region1>` .. `<regionN>` (explicit, may repeat). When the first question leaves some of
  /// the `num_regions` regions unmentioned, Osprey's region header introduces them all first
  /// (or, with LoadOptions::strict_regions, that is an ArgumentError). Throws ArgumentError
  /// for placeholders naming regions that do not exist or a prompt longer than the context.
  /// GPT4RoI: its "###" template; the first mention of region K becomes "regionK <bbox>" (a
  /// 1-position Region chunk), later ones plain "regionK"; a region need not be named yet (as
  /// in a chat turn; describe requires every one); Chunk::ids of all chunks in order are
  /// GPT4RoI's input_ids.
  text::PromptLayout layout(const std::string& prompt, int64_t num_regions,
                            const std::vector<text::Turn>& history = {}) const;

  /// Decoder input embeddings [1, L, hidden] (model dtype and device) of a layout, its image
  /// block from `image` and its region pairs from `regions`. Throws ShapeError when they do
  /// not match the layout, ArgumentError for an image from another Model.
  torch::Tensor embed(const text::PromptLayout& layout, const EncodedImage& image,
                      const RegionTokens& regions) const;

  /// Generates an answer for each row of `embeds` [B, L, hidden] (B prompts laid out as
  /// `layout`, e.g. one question about B regions), decoded together. `layout` supplies the
  /// prompt's text ids, which the repetition penalty counts as transformers does.
  /// GenerationOptions::on_step reports every row's tokens. Throws ArgumentError /
  /// ShapeError for bad options or embeddings that do not match the layout. GPT4RoI: also
  /// stops at "###" and cleans the answer as its demo does (text and streamed pieces alike:
  /// "Assistant:" removed, white space stripped).
  std::vector<Answer> generate(const text::PromptLayout& layout, const torch::Tensor& embeds,
                               const GenerationOptions& options = {}) const;

  // ---- One-call helpers --------------------------------------------------------------------

  /// Answers `prompt` about `regions` of the image: layout -> encode_regions -> embed ->
  /// generate. Placeholders as in layout(). Throws ArgumentError for placeholder/region
  /// mismatches, bad regions (naming the region), a prompt longer than the context, or an
  /// image from another Model.
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
  /// reduction order). on_step's Step::row is the region's index.
  std::vector<Answer> describe_each(const EncodedImage& image, const std::vector<Region>& regions,
                                    const std::string& prompt,
                                    const GenerationOptions& options = {}) const;

  /// A multi-turn conversation about one image and its regions; each question may use the
  /// placeholders of `regions`. The session keeps its decoder state between turns.
  ChatSession chat(const EncodedImage& image, const std::vector<Region>& regions) const;

  /// What the continuous batch (LoadOptions::batch_rows > 1) has done so far; all zeros
  /// without one.
  llm::BatcherStats batch_stats() const;

  /// Which architecture was loaded.
  ModelFamily family() const;
  /// The loaded modules (shared with this Model, not copied): for callers that go below the
  /// steps, e.g. to read the decoder's logits. Inference never changes them; neither should
  /// the caller. osprey() for an Osprey model, gpt4roi() for a GPT4RoI one; the other throws
  /// ArgumentError.
  Osprey osprey() const;
  const ::regionlm::gpt4roi::Model& gpt4roi() const;
  /// Osprey's configuration (ArgumentError for a GPT4RoI model: see gpt4roi().config()).
  const OspreyConfig& config() const;
  /// The decoder's configuration, for both families (context length, vocabulary, ...).
  const LlamaConfig& decoder_config() const;
  const text::Tokenizer& tokenizer() const;
  torch::Device device() const;
  /// dtype of the vision trunk / tower, projector and decoder.
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
