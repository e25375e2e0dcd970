#include "pipeline/inference.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "regionlm/error.hpp"
#include "regionlm/region/masks.hpp"
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
  const auto start = std::chrono::steady_clock::now();
  const OspreyConfig& cfg = model->config;
  const torch::Tensor pixels = vision::preprocess(rgb8, cfg.vision, model->options());  // [1, 3, S, S]
  auto data = std::make_shared<EncodedImage::Data>();
  data->owner = model;
  data->height = rgb8.rows;
  data->width = rgb8.cols;
  data->features = model->vision->forward(pixels);  // res2..res5, [1, C_l, S/2^(l+2), S/2^(l+2)]
  const torch::Tensor& token_map = data->features.at(static_cast<size_t>(cfg.vision.token_level));
  data->image_tokens = model->projector->forward(token_map).squeeze(0);  // [h*w, hidden]
  wait_for_device(model->device);
  data->encode_ms = elapsed_ms(start);
  return Access::make_image(std::move(data));
}

RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image,
                            const std::vector<Region>& regions) {
  const auto start = std::chrono::steady_clock::now();
  RegionTokens out;
  const int64_t hidden = model.config.text.hidden_size;
  if (regions.empty()) {
    out.mask_tokens = torch::empty({0, hidden}, model.options());
    out.pos_tokens = torch::empty({0, hidden}, model.options());
    return out;
  }
  const torch::Tensor masks = regions_to_masks(regions, image.height, image.width, model.device);  // [Q, H, W]
  const auto tokens = model.extractor->forward(image.features, masks);
  // Extractor outputs are float32 (as Osprey computes them); the decoder takes its own dtype.
  out.mask_tokens = tokens.mask_tokens.to(model.dtype);  // [Q, hidden]
  out.pos_tokens = tokens.pos_tokens.to(model.dtype);    // [Q, hidden]
  wait_for_device(model.device);
  out.ms = elapsed_ms(start);
  return out;
}

int64_t max_prompt_length(const ModelImpl& model) { return model.config.text.max_position_embeddings - 1; }

text::PromptLayout question_layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                                  int64_t num_image_tokens) {
  return text::build_prompt(model.tokenizer, model.conversation, {}, prompt, num_regions, num_image_tokens,
                            max_prompt_length(model));
}

torch::Tensor embed_layout(const ModelImpl& model, const text::PromptLayout& layout,
                           const EncodedImage::Data& image, const RegionTokens& regions) {
  const auto& table = model.llama->model->embed_tokens;
  return text::assemble_embeddings(
      layout, [&](const torch::Tensor& ids) { return table->forward(ids); },  // [T] -> [T, hidden]
      image.image_tokens, regions.mask_tokens, regions.pos_tokens);  // [1, L, hidden]
}

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
        signature.push_back(kRegionCode - 2 * chunk.region_index);
        signature.push_back(kRegionCode - 2 * chunk.region_index - 1);
        break;
    }
  }
  return signature;
}

llm::GenerationOptions generation_options(const llm::GenerationOptions& options, const text::PromptLayout& layout) {
  llm::GenerationOptions out = options;
  if (out.repetition_penalty != 1.f && out.penalty_context.empty()) {
    for (const text::Chunk& chunk : layout.chunks) {
      out.penalty_context.insert(out.penalty_context.end(), chunk.ids.begin(), chunk.ids.end());
    }
  }
  return out;
}

int64_t cache_capacity(const ModelImpl& model, int64_t prompt_length, int64_t max_new_tokens) {
  const int64_t limit = model.config.text.max_position_embeddings;
  return std::min(limit, prompt_length + std::max<int64_t>(max_new_tokens, 1));
}

llm::DecodeFn decode_fn(const ModelImpl& model) {
  const text::Tokenizer tokenizer = model.tokenizer;  // shares the loaded model
  return [tokenizer](const std::vector<int64_t>& ids) { return tokenizer.decode(ids, true, true); };
}

}  // namespace regionlm::pipeline
