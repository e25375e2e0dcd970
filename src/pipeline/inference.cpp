#include "pipeline/inference.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "pipeline/gpt4roi_family.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/text/region_mentions.hpp"
#include "regionlm/vision/preprocess.hpp"

#if defined(REGIONLM_WITH_CUDA)
#include <torch/cuda.h>
#endif

namespace regionlm::pipeline {

namespace {

constexpr int64_t kImageCode = -1;           // image position i -> kImageCode - i
constexpr int64_t kRegionCode = -(1 << 30);  // below any image position

}  // namespace

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void wait_for_device(const torch::Device& device) {
#if defined(REGIONLM_WITH_CUDA)
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
#else
  (void)device;
#endif
}

EncodedImage encode_image(const std::shared_ptr<const ModelImpl>& model, const cv::Mat& rgb8) {
  if (model->gpt4roi) return gpt4roi_family::encode(model, rgb8);
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor pixels = vision::preprocess(rgb8, model->config().vision, model->options());  // [1, 3, S, S]
  auto data = std::make_shared<EncodedImage::Data>();
  data->owner = model;
  data->height = rgb8.rows;
  data->width = rgb8.cols;
  data->features = model->osprey->vision_features(pixels);                        // res2..res5
  data->image_tokens = model->osprey->image_tokens(data->features).squeeze(0);  // [N, hidden]
  wait_for_device(model->device());
  data->encode_ms = elapsed_ms(start);
  return Access::make_image(std::move(data));
}

RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image, const std::vector<Region>& regions,
                            std::vector<std::string>* notes_by_region) {
  if (model.gpt4roi) return gpt4roi_family::encode_regions(model, image, regions, notes_by_region);
  if (notes_by_region) notes_by_region->assign(regions.size(), std::string());
  const auto start = std::chrono::steady_clock::now();
  if (regions.empty()) {
    const int64_t hidden = model.config().text.hidden_size;
    return {torch::empty({0, hidden}, model.options()), torch::empty({0, hidden}, model.options()), 0.0};
  }
  const torch::Tensor masks = regions_to_masks(regions, image.height, image.width, model.device());  // [Q, H, W]
  RegionTokens out = model.osprey->region_tokens(image.features, masks);  // [Q, hidden] each
  wait_for_device(model.device());
  out.ms = elapsed_ms(start);
  return out;
}

text::PromptLayout layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                          const std::vector<text::Turn>& history, bool every_region_named) {
  if (model.gpt4roi) return gpt4roi_family::layout(model, prompt, num_regions, history, every_region_named);
  return text::build_prompt(model.tokenizer, model.conversation, history, prompt, num_regions,
                            model.osprey->image_token_count(), max_prompt_length(model), /*include_image=*/true,
                            model.unmentioned);
}

torch::Tensor embed(const ModelImpl& model, const text::PromptLayout& layout, const EncodedImage::Data& image,
                    const RegionTokens& regions) {
  if (model.gpt4roi) return gpt4roi_family::embed(model, layout, image, regions);
  return model.osprey->embed(layout, image.image_tokens, regions);  // [1, L, hidden]
}

std::vector<Answer> generate_answers(const ModelImpl& model, llm::KVCache& cache, const text::PromptLayout& layout,
                                     const torch::Tensor& embeds, const GenerationOptions& options, int64_t num_regions,
                                     bool per_row_first_region, bool cache_final_token) {
  const llm::DecodeSetup setup = decode_setup(model, layout, options, cache_final_token);
  std::vector<Answer> answers;
  for (auto& result :
       run_generation(model, cache, embeds,
                      model.gpt4roi ? gpt4roi_family::generation_options(options, embeds.size(0)) : options, setup)) {
    if (model.gpt4roi) result.text = gpt4roi::clean_answer(result.text);
    const auto row = static_cast<int64_t>(answers.size());
    answers.push_back(make_answer(std::move(result), 0.0, 0.0, num_regions, per_row_first_region ? row : 0));
  }
  return answers;
}

int64_t regions_named(const text::PromptLayout& layout) {
  int64_t count = 0;
  for (const text::Chunk& chunk : layout.chunks) {
    if (chunk.kind == text::Chunk::Kind::Region) count = std::max(count, chunk.region_index + 1);
  }
  return count;
}

int64_t max_prompt_length(const ModelImpl& model) { return model.text_config().max_position_embeddings - 1; }

std::vector<int64_t> layout_signature(const text::PromptLayout& layout) {
  std::vector<int64_t> signature;
  signature.reserve(static_cast<size_t>(layout.length));
  for (const text::Chunk& chunk : layout.chunks) {
    switch (chunk.kind) {
      case text::Chunk::Kind::Text:
        signature.insert(signature.end(), chunk.ids.begin(), chunk.ids.end());
        break;
      case text::Chunk::Kind::Image:
        for (int64_t i = 0; i < chunk.length; ++i) signature.push_back(kImageCode - i);
        break;
      case text::Chunk::Kind::Region:
        for (int64_t i = 0; i < chunk.length; ++i) signature.push_back(kRegionCode - 2 * chunk.region_index - i);
        break;
    }
  }
  return signature;
}

std::vector<llm::GenerationResult> run_generation(const ModelImpl& model, llm::KVCache& cache,
                                                  const torch::Tensor& embeds, const GenerationOptions& options,
                                                  const llm::DecodeSetup& setup) {
  if (model.batcher && cache.batch() == 1) return {model.batcher->generate(cache, embeds, options, setup)};
  return llm::generate(model.decoder(), cache, embeds, options, setup);
}

llm::DecodeSetup decode_setup(const ModelImpl& model, const text::PromptLayout& layout,
                              const GenerationOptions& options, bool cache_final_token) {
  llm::DecodeSetup setup;
  const text::Tokenizer tokenizer = model.tokenizer;  // shares the loaded model
  setup.make_decoder = [tokenizer]() -> llm::TokenDecoder {
    auto decoder = std::make_shared<text::StreamingDecoder>(tokenizer, /*skip_special=*/true);
    return [decoder](int64_t id) { return decoder->push(id); };
  };
  setup.eos_token_id = model.gpt4roi ? model.text_config().eos_token_id : model.tokenizer.eos_id();
  if (options.repetition_penalty != 1.f) {
    for (const text::Chunk& chunk : layout.chunks) {
      setup.penalty_context.insert(setup.penalty_context.end(), chunk.ids.begin(), chunk.ids.end());
    }
  }
  setup.cache_final_token = cache_final_token;
  return setup;
}

std::pair<text::PromptLayout, text::PromptLayout> split_layout(const text::PromptLayout& layout, size_t count) {
  std::pair<text::PromptLayout, text::PromptLayout> parts;
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    text::PromptLayout& part = i < count ? parts.first : parts.second;
    part.chunks.push_back(layout.chunks[i]);
    part.length += layout.chunks[i].length;
  }
  return parts;
}

size_t chunks_through_image(const text::PromptLayout& layout) {
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    if (layout.chunks[i].kind == text::Chunk::Kind::Image) return i + 1;
  }
  return 0;
}

std::shared_ptr<const llm::KVCache> image_prefix(const ModelImpl& model, const EncodedImage::Data& image,
                                                 const text::PromptLayout& head, double& prefill_ms) {
  prefill_ms = 0;
  if (!model.reuse_image_prefix || head.length == 0) return nullptr;
  for (const text::Chunk& chunk : head.chunks) {
    if (chunk.kind == text::Chunk::Kind::Region) return nullptr;  // not the same for every question
  }
  const std::vector<int64_t> signature = layout_signature(head);
  std::lock_guard<std::mutex> lock(image.prefix_mutex);
  if (image.prefix) return image.prefix_signature == signature ? image.prefix : nullptr;
  const auto start = std::chrono::steady_clock::now();
  auto prefix = std::make_shared<llm::KVCache>(new_cache(model, 1, head.length, nullptr));
  model.decoder()->forward(embed(model, head, image, RegionTokens{}), *prefix, /*last_only=*/true);
  wait_for_device(model.device());
  prefill_ms = elapsed_ms(start);
  image.prefix = prefix;
  image.prefix_signature = signature;
  return prefix;
}

llm::KVCache new_cache(const ModelImpl& model, int64_t batch, int64_t capacity,
                       std::shared_ptr<const llm::KVCache> prefix) {
  if (!prefix) return llm::KVCache(model.text_config(), batch, capacity, model.options());
  return llm::KVCache(model.text_config(), batch, capacity, model.options(), std::move(prefix));
}

int64_t cache_capacity(const ModelImpl& model, int64_t prompt_length, int64_t max_new_tokens) {
  const int64_t limit = model.text_config().max_position_embeddings;
  // Clamped before adding: max_new_tokens is the caller's and may be anything up to INT64_MAX.
  return std::min(limit, prompt_length + std::clamp<int64_t>(max_new_tokens, 1, limit));
}

Answer make_answer(llm::GenerationResult result, double encode_ms, double regions_ms, int64_t num_regions,
                   int64_t first_region) {
  Answer answer;
  answer.text = std::move(result.text);
  answer.mentions = text::find_region_mentions(answer.text, num_regions, first_region);
  answer.tokens = std::move(result.tokens);
  answer.stop_reason = result.stop_reason;
  answer.timings = result.timings;
  answer.encode_ms = encode_ms;
  answer.regions_ms = regions_ms;
  return answer;
}

}  // namespace regionlm::pipeline
