#pragma once
// Model's steps for either family and the helpers that describe, describe_each and
// ChatSession build on: the checks and bookkeeping around the tensor steps. Osprey's steps are
// here; a GPT4RoI model is handed to pipeline/gpt4roi_family.hpp. Everything runs on the
// model's device with no host round trip.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/access.hpp"
#include "pipeline/model_impl.hpp"
#include "regionlm/answer.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/text/sequence.hpp"

namespace regionlm::pipeline {

/// Model::encode on a CV_8UC3 RGB image (the caller holds an InferenceMode). Osprey: vision
/// trunk + projector; GPT4RoI: gpt4roi_family::encode.
EncodedImage encode_image(const std::shared_ptr<const ModelImpl>& model, const cv::Mat& rgb8);

/// Model::encode_regions. Osprey: validates and rasterises the regions at the image's size
/// (ArgumentError naming the region), then runs the mask-aware extractor on the image's
/// features; no regions give [0, hidden] tensors. GPT4RoI: one box feature per region, a
/// note for each region used as its bounding box. `notes_by_region`, when given, receives
/// one note per region ("" where the region was used as given).
RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image, const std::vector<Region>& regions,
                            std::vector<std::string>* notes_by_region = nullptr);

/// The prompt of `prompt` after the answered `history` turns (Model::layout).
/// `every_region_named`: GPT4RoI's describe needs a <bbox> for every region, where its chat
/// may name a region first in a later turn; Osprey follows LoadOptions::strict_regions.
text::PromptLayout layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                          const std::vector<text::Turn>& history, bool every_region_named);

/// Decoder input [1, L, hidden] of a layout (Model::embed).
torch::Tensor embed(const ModelImpl& model, const text::PromptLayout& layout, const EncodedImage::Data& image,
                    const RegionTokens& regions);

/// Generates every row of `embeds` after what `cache` holds and makes the answers: the
/// family's stop strings and answer cleaning (GPT4RoI's "###", also while streaming), mentions
/// of region1 .. region`num_regions` mapped from input region 0 on, or, with
/// `per_row_first_region` (describe_each's rows, num_regions = 1), row r's region1 being input
/// region r.
std::vector<Answer> generate_answers(const ModelImpl& model, llm::KVCache& cache, const text::PromptLayout& layout,
                                     const torch::Tensor& embeds, const GenerationOptions& options, int64_t num_regions,
                                     bool per_row_first_region, bool cache_final_token);

/// Regions a layout names: one more than its highest region index (0 without regions).
int64_t regions_named(const text::PromptLayout& layout);

/// Positions a prompt may use: the context minus one position for the first answer token.
int64_t max_prompt_length(const ModelImpl& model);

/// What each position of a layout holds, comparable across layouts of one image and region
/// set: text ids as they are, image position i as -1 - i, region r's tokens as
/// kRegionCode - 2r (mask token, or GPT4RoI's one box token) / kRegionCode - 2r - 1 (position
/// token). Equal signatures give equal embeddings.
std::vector<int64_t> layout_signature(const text::PromptLayout& layout);

/// llm::generate, through the model's Batcher when it has one and the cache holds one row.
std::vector<llm::GenerationResult> run_generation(const ModelImpl& model, llm::KVCache& cache,
                                                  const torch::Tensor& embeds, const GenerationOptions& options,
                                                  const llm::DecodeSetup& setup);

/// The library's side of a generation over `layout`: a text::StreamingDecoder per row, the
/// family's EOS (Osprey: the tokenizer's; GPT4RoI: its config's), every chunk's ids as
/// repetition-penalty context when a penalty is set (transformers counts the input_ids:
/// GPT4RoI's <im_patch> and <bbox> included), and whether the final token goes into the cache.
llm::DecodeSetup decode_setup(const ModelImpl& model, const text::PromptLayout& layout,
                              const GenerationOptions& options, bool cache_final_token);

/// The first `count` chunks of a layout and the rest.
std::pair<text::PromptLayout, text::PromptLayout> split_layout(const text::PromptLayout& layout, size_t count);

/// Chunks up to and including the Image chunk (0 when there is none): the part of a prompt
/// that every question about an image starts with.
size_t chunks_through_image(const text::PromptLayout& layout);

/// The image's shared decoder state for `head` (the chunks through the image block), computed
/// at the first call and reused by every later one (thread-safe); null when reuse is off or
/// `head` is empty. `prefill_ms` receives the time spent computing it now (0 when reused).
std::shared_ptr<const llm::KVCache> image_prefix(const ModelImpl& model, const EncodedImage::Data& image,
                                                 const text::PromptLayout& head, double& prefill_ms);

/// A KV cache of `batch` rows and `capacity` positions (the prefix's included) in the model's
/// dtype on its device, continuing `prefix` when it is not null.
llm::KVCache new_cache(const ModelImpl& model, int64_t batch, int64_t capacity,
                       std::shared_ptr<const llm::KVCache> prefix);

/// Capacity for a KV cache that holds `prompt_length` positions and up to max_new_tokens
/// more, within the model's max positions.
int64_t cache_capacity(const ModelImpl& model, int64_t prompt_length, int64_t max_new_tokens);

/// The one place an Answer is made from a generation result. Its region mentions are those of
/// `num_regions` regions named region1 .. regionN in the prompt, region K being input region
/// first_region + K - 1 (text::find_region_mentions).
Answer make_answer(llm::GenerationResult result, double encode_ms, double regions_ms, int64_t num_regions,
                   int64_t first_region = 0);

/// Wall milliseconds since `start`.
double elapsed_ms(std::chrono::steady_clock::time_point start);

/// Blocks until queued device work is done (CUDA), so wall times mean something.
void wait_for_device(const torch::Device& device);

}  // namespace regionlm::pipeline
