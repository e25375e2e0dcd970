#pragma once
// The steps every public call is made of: image -> features and image tokens; regions ->
// mask and position tokens; prompt -> layout -> decoder input embeddings. Each runs on the
// model's device with no host round trip, so tests can run them on the `meta` device.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/access.hpp"
#include "pipeline/model_impl.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/text/sequence.hpp"

namespace regionlm::pipeline {

/// Vision trunk + projector on a CV_8UC3 RGB image (the caller holds an InferenceMode).
EncodedImage encode_image(const std::shared_ptr<const ModelImpl>& model, const cv::Mat& rgb8);

/// One mask token and one position token per region, [Q, hidden] in the model dtype (the
/// extractor itself runs in float32). Q = 0 gives [0, hidden] tensors.
struct RegionTokens {
  torch::Tensor mask_tokens;  // [Q, hidden]
  torch::Tensor pos_tokens;   // [Q, hidden]
  double ms = 0;              // wall time, ms
};
/// Validates and rasterises the regions at the image's size (ArgumentError naming the
/// region), then runs the mask-aware extractor on the image's features.
RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image,
                            const std::vector<Region>& regions);

/// Positions a prompt may use: the context minus one position for the first answer token.
int64_t max_prompt_length(const ModelImpl& model);

/// The layout of a single question with the image prefix (build_prompt with no history).
text::PromptLayout question_layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                                  int64_t num_image_tokens);

/// Decoder input embeddings [1, L, hidden] (model dtype/device) of a layout whose Region
/// chunks index `regions`.
torch::Tensor embed_layout(const ModelImpl& model, const text::PromptLayout& layout,
                           const EncodedImage::Data& image, const RegionTokens& regions);

/// What each position of a layout holds, comparable across layouts of one image and region
/// set: text ids as they are, image position i as -1 - i, region r's mask/pos tokens as
/// kRegionCode - 2r / kRegionCode - 2r - 1. Equal signatures give equal embeddings.
std::vector<int64_t> layout_signature(const text::PromptLayout& layout);

/// Options for generate(): the caller's, plus the prompt's text ids as repetition-penalty
/// context when the caller set a penalty without giving one (transformers counts the prompt).
llm::GenerationOptions generation_options(const llm::GenerationOptions& options,
                                          const text::PromptLayout& layout);

/// Capacity for a KV cache that holds `prompt_length` positions and up to max_new_tokens
/// more, within the model's max positions.
int64_t cache_capacity(const ModelImpl& model, int64_t prompt_length, int64_t max_new_tokens);

/// The tokenizer's streaming decode (skip special tokens, hold back incomplete UTF-8).
llm::DecodeFn decode_fn(const ModelImpl& model);

/// Wall milliseconds since `start`.
double elapsed_ms(std::chrono::steady_clock::time_point start);

/// Blocks until queued device work is done (CUDA), so wall times mean something.
void wait_for_device(const torch::Device& device);

}  // namespace regionlm::pipeline
