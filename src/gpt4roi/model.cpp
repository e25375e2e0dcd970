#include "regionlm/gpt4roi/model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gpt4roi/model_impl.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/text/tokenizer.hpp"
#include "regionlm/vision/preprocess.hpp"
#include "shape_text.hpp"

namespace regionlm::gpt4roi {
namespace fs = std::filesystem;

namespace {

std::string box_text(size_t index, const Box& b) {
  std::ostringstream out;
  out << "box " << index + 1 << " (" << b.x1 << ", " << b.y1 << ", " << b.x2 << ", " << b.y2 << ")";
  return out.str();
}

void check_box(size_t index, const Box& b, int width, int height) {
  if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2)) {
    throw ArgumentError(box_text(index, b) + ": coordinates must be finite");
  }
  if (b.x2 <= b.x1 || b.y2 <= b.y1) {
    throw ArgumentError(box_text(index, b) + ": zero or negative area (need x1 < x2 and y1 < y2)");
  }
  if (b.x1 < 0 || b.y1 < 0 || b.x2 > width || b.y2 > height) {
    throw ArgumentError(box_text(index, b) + " reaches outside the " + std::to_string(width) + "x" +
                        std::to_string(height) + " image");
  }
}

// The snapshot of a Hugging Face hub repository id ("openai/clip-vit-large-patch14") in the
// local hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), as
// `huggingface-cli download` without --local-dir leaves it; empty when absent. Nothing is
// downloaded.
fs::path hub_snapshot(const std::string& repo_id) {
  const size_t slash = repo_id.find('/');
  if (slash == std::string::npos || slash == 0 || repo_id.find('/', slash + 1) != std::string::npos ||
      repo_id.find("..") != std::string::npos) {
    return {};
  }
  fs::path hub;
  if (const char* cache = std::getenv("HF_HUB_CACHE")) {
    hub = cache;
  } else if (const char* home = std::getenv("HF_HOME")) {
    hub = fs::path(home) / "hub";
  } else if (const char* user = std::getenv("HOME")) {
    hub = fs::path(user) / ".cache" / "huggingface" / "hub";
  } else {
    return {};
  }
  const fs::path repo = hub / ("models--" + repo_id.substr(0, slash) + "--" + repo_id.substr(slash + 1));
  std::ifstream ref(repo / "refs" / "main");
  std::string revision;
  if (!(ref >> revision) || revision.find('/') != std::string::npos) return {};
  const fs::path snapshot = repo / "snapshots" / revision;
  return fs::is_regular_file(snapshot / "config.json") ? snapshot : fs::path();
}

fs::path vision_dir(const fs::path& dir, const LoadOptions& options, const Gpt4roiConfig& config) {
  fs::path path = options.vision_tower.empty() ? fs::path(config.mm_vision_tower) : options.vision_tower;
  if (path.is_relative() && fs::exists(dir / path)) path = dir / path;
  if (!fs::is_directory(path)) {
    if (const fs::path cached = hub_snapshot(path.generic_string()); !cached.empty()) return cached;
    throw ConfigError("GPT4RoI vision tower '" + path.string() +
                      "' is neither a directory nor in the Hugging Face hub cache: download "
                      "openai/clip-vit-large-patch14 (config.json + weights) and name it with "
                      "LoadOptions::vision_tower or config.json's mm_vision_tower");
  }
  return path;
}

}  // namespace

Model::Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Model Model::load(const fs::path& dir, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  auto impl = std::make_shared<Impl>(text::Tokenizer::load(dir));
  impl->config = load_gpt4roi_config(dir);
  const fs::path clip = vision_dir(dir, options, impl->config);
  impl->config.vision = load_clip_vision_config(clip);
  auto& config = impl->config;
  if (config.mm_hidden_size != config.vision.hidden_size) {
    throw ConfigError((dir / "config.json").string() + ": mm_hidden_size " + std::to_string(config.mm_hidden_size) +
                      " differs from the vision tower's hidden_size " + std::to_string(config.vision.hidden_size));
  }
  impl->layers = hidden_state_indices(config.vision.num_hidden_layers, config.mm_vision_select_layer,
                                      config.spi.num_levels);
  const int64_t vocab = impl->tokenizer.size();
  if (vocab > config.text.vocab_size) {
    throw ConfigError((dir / "config.json").string() + ": the tokenizer has " + std::to_string(vocab) +
                      " tokens but vocab_size is " + std::to_string(config.text.vocab_size));
  }
  impl->options = torch::TensorOptions().dtype(options.dtype).device(options.device);
  const auto f32 = impl->options.dtype(torch::kFloat32);

  impl->tower = load_clip_vision_tower(load_weights(clip), config.vision, impl->options);
  const Weights weights = load_weights(dir);
  impl->llama = llm::load_llama(weights, config.text, impl->options);
  impl->projector = layers::Linear(config.mm_hidden_size, config.text.hidden_size, impl->options);
  auto used = load_module(*impl->projector, weights, "model.mm_projector.").loaded;
  impl->spi = SpiModule(config.vision, config.text.hidden_size, config.spi, f32);
  const auto spi_keys = load_module(*impl->spi, weights, "model.spi_module.").loaded;
  used.insert(used.end(), spi_keys.begin(), spi_keys.end());
  for (const auto& p : impl->llama->named_parameters()) used.push_back(p.key());  // keys = names
  for (const auto& name : unexpected_keys(weights, used)) {
    if (name.find("rotary_emb.inv_freq") == std::string::npos) impl->unused.push_back(name);
  }
  impl->tower->eval();
  impl->spi->eval();
  return Model(impl);
}

EncodedImage Model::encode(const cv::Mat& image_rgb8) const {
  c10::InferenceMode guard;
  const auto& impl = *impl_;
  VisionConfig pre;
  pre.image_size = impl.config.vision.image_size;  // CLIP's mean / std are VisionConfig's defaults
  const torch::Tensor pixels = vision::preprocess(image_rgb8, pre, impl.options);  // [1, 3, S, S]
  std::vector<int64_t> wanted{impl.layers.image};
  wanted.insert(wanted.end(), impl.layers.regions.begin(), impl.layers.regions.end());
  const auto states = impl.tower->forward(pixels, wanted);  // each [1, 1 + N, C]
  EncodedImage out;
  out.image_tokens = impl.projector(states[0].slice(1, 1))[0];  // [N, hidden]
  std::vector<torch::Tensor> tokens;
  for (size_t i = 1; i < states.size(); ++i) tokens.push_back(states[i].slice(1, 1));  // [1, N, C]
  out.region_levels = impl.spi->fused_levels(tokens);  // [1, C, side, side] each, float32
  out.width = image_rgb8.cols;
  out.height = image_rgb8.rows;
  return out;
}

torch::Tensor Model::region_features(const EncodedImage& image, const std::vector<Box>& boxes) const {
  c10::InferenceMode guard;
  const auto& impl = *impl_;
  if (image.width <= 0 || image.height <= 0 || image.region_levels.empty()) {
    throw ArgumentError("region_features: the image was not encoded by a GPT4RoI model");
  }
  if (boxes.empty()) return torch::zeros({0, impl.config.text.hidden_size}, impl.options);
  std::vector<double> normalised;  // xyxy / (W, H, W, H) in double, as the demo does
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& b = boxes[i];
    check_box(i, b, image.width, image.height);
    normalised.insert(normalised.end(), {b.x1 / image.width, b.y1 / image.height, b.x2 / image.width,
                                         b.y2 / image.height});
  }
  const auto k = static_cast<int64_t>(boxes.size());
  const torch::Tensor box01 = torch::tensor(normalised, torch::kFloat64)
                                  .view({k, 4})
                                  .to(impl.spi->options());  // [K, 4] float32 on the device
  return impl.spi->roi_align(image.region_levels, box01).to(impl.options.dtype());  // [K, hidden]
}

PromptLayout Model::layout(const std::vector<text::Turn>& history, const std::string& question,
                           int64_t num_regions, bool require_all_regions) const {
  return build_prompt(impl_->tokenizer, history, question, num_regions, impl_->config.vision.num_patches(),
                      impl_->config.text.max_position_embeddings, require_all_regions);
}

torch::Tensor Model::embed(const PromptLayout& layout, const EncodedImage& image,
                           const torch::Tensor& region_features) const {
  c10::InferenceMode guard;
  const auto& impl = *impl_;
  const int64_t hidden = impl.config.text.hidden_size;
  if (image.image_tokens.dim() != 2 || image.image_tokens.size(0) != layout.image_tokens ||
      image.image_tokens.size(1) != hidden) {
    throw ShapeError("embed: image tokens " + shape_text(image.image_tokens.sizes()) + " do not fit the layout's " +
                     std::to_string(layout.image_tokens) + " x " + std::to_string(hidden));
  }
  int64_t needed = 0;
  for (const int64_t r : layout.bbox_regions) needed = std::max(needed, r + 1);
  if (region_features.dim() != 2 || region_features.size(0) < needed || region_features.size(1) != hidden) {
    throw ShapeError("embed: region features " + shape_text(region_features.sizes()) + " for a layout naming " +
                     std::to_string(needed) + " region(s) of width " + std::to_string(hidden));
  }
  const auto device = impl.options.device();
  const auto ids = torch::tensor(layout.ids, torch::kInt64).to(device).unsqueeze(0);  // [1, L]
  auto e = impl.llama->embed(ids)[0].clone();                                          // [L, H]
  e.narrow(0, layout.image_begin, layout.image_tokens).copy_(image.image_tokens);       // [N, H]
  if (!layout.bbox_positions.empty()) {
    const auto positions = torch::tensor(layout.bbox_positions, torch::kInt64).to(device);  // [K]
    const auto regions = torch::tensor(layout.bbox_regions, torch::kInt64).to(device);      // [K]
    e.index_copy_(0, positions, region_features.to(e.scalar_type()).index_select(0, regions));  // [L, H]
  }
  return e.unsqueeze(0);  // [1, L, H]
}

Answer Model::Impl::generate(llm::KVCache& cache, const torch::Tensor& embeds, const PromptLayout& layout,
                             const GenerationOptions& options, int64_t num_regions, bool cache_final_token) const {
  GenerationOptions opts = options;
  if (std::find(opts.stop_strings.begin(), opts.stop_strings.end(), kStopString) == opts.stop_strings.end()) {
    opts.stop_strings.push_back(kStopString);
  }
  llm::DecodeSetup setup;
  const text::Tokenizer tok = tokenizer;  // shares the loaded model
  setup.make_decoder = [tok]() -> llm::TokenDecoder {
    auto decoder = std::make_shared<text::StreamingDecoder>(tok, /*skip_special=*/true);
    return [decoder](int64_t id) { return decoder->push(id); };
  };
  setup.eos_token_id = config.text.eos_token_id;
  if (options.repetition_penalty != 1.f) setup.penalty_context = layout.ids;  // transformers counts input_ids
  setup.cache_final_token = cache_final_token;
  const auto result = std::move(llm::generate(llama, cache, embeds, opts, setup).at(0));
  Answer answer;
  answer.text = clean_answer(result.text);
  answer.tokens = result.tokens;
  answer.stop_reason = result.stop_reason;
  answer.timings = result.timings;
  answer.mentions = find_region_mentions(answer.text, num_regions);
  return answer;
}

Answer Model::describe(const EncodedImage& image, const std::vector<Box>& boxes, const std::string& prompt,
                       const GenerationOptions& options) const {
  c10::InferenceMode guard;
  const auto& impl = *impl_;
  const auto k = static_cast<int64_t>(boxes.size());
  const PromptLayout lay = layout({}, prompt, k, /*require_all_regions=*/true);
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor features = region_features(image, boxes);  // [K, H]
  const double regions_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const torch::Tensor embeds = embed(lay, image, features);      // [1, L, H]
  const int64_t capacity =
      std::min(impl.config.text.max_position_embeddings, lay.length() + std::max<int64_t>(options.max_new_tokens, 1));
  llm::KVCache cache(impl.config.text, 1, capacity, impl.options);
  Answer answer = impl.generate(cache, embeds, lay, options, k, /*cache_final_token=*/false);
  answer.regions_ms = regions_ms;  // RoIAlign and heads; the pyramid was fused at encode
  return answer;
}

Answer Model::describe_regions(const EncodedImage& image, const std::vector<Region>& regions,
                              const std::string& prompt, const GenerationOptions& options) const {
  RegionBoxes boxed = boxes_of(regions, image.width, image.height);
  Answer answer = describe(image, boxed.boxes, prompt, options);
  answer.notes = std::move(boxed.notes);
  return answer;
}

std::vector<Answer> Model::describe_each(const EncodedImage& image, const std::vector<Box>& boxes,
                                         const std::string& prompt, const GenerationOptions& options) const {
  layout({}, prompt, 1, /*require_all_regions=*/true);  // one placeholder, checked before any work
  std::vector<Answer> answers;
  for (const Box& box : boxes) answers.push_back(describe(image, {box}, prompt, options));
  return answers;
}

const Gpt4roiConfig& Model::config() const { return impl_->config; }
const text::Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
const llm::Llama& Model::decoder() const { return impl_->llama; }
const std::vector<std::string>& Model::unused_keys() const { return impl_->unused; }

}  // namespace regionlm::gpt4roi
