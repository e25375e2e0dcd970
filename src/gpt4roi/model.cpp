#include "regionlm/gpt4roi/model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gpt4roi/model_impl.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/llm/loaded_linear.hpp"
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
  return load(dir, load_gpt4roi_config(dir), options);
}

Model Model::load(const fs::path& dir, Gpt4roiConfig config_in, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  const auto progress = [&](double fraction, const std::string& stage) {
    if (options.on_progress) options.on_progress(fraction, stage);
  };
  progress(0.0, "config");
  auto impl = std::make_shared<Impl>(text::Tokenizer::load(dir));
  impl->config = std::move(config_in);
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
  const size_t marker = options.first_turn_prefix.find("<image>");
  if (marker == std::string::npos || options.first_turn_prefix.find("<image>", marker + 1) != std::string::npos) {
    throw ConfigError("GPT4RoI first-turn prefix \"" + options.first_turn_prefix +
                      "\" must contain \"<image>\" exactly once");
  }
  impl->first_turn_prefix = options.first_turn_prefix;
  impl->options = torch::TensorOptions().dtype(options.dtype).device(options.device);
  const auto f32 = impl->options.dtype(torch::kFloat32);

  progress(0.01, "vision tower");
  impl->tower = load_clip_vision_tower(load_weights(clip), config.vision, impl->options);
  progress(0.1, "opening weights");
  const Weights weights = load_weights(dir);
  progress(0.12, "decoder");
  impl->llama = llm::load_llama(weights, config.text, impl->options);
  progress(0.9, "projector");
  impl->projector = layers::Linear(config.mm_hidden_size, config.text.hidden_size, impl->options);
  auto used = load_module(*impl->projector, weights, "model.mm_projector.").loaded;
  progress(0.91, "region branch");
  impl->spi = SpiModule(config.vision, config.text.hidden_size, config.spi, f32);
  const auto spi_keys = load_module(*impl->spi, weights, "model.spi_module.").loaded;
  used.insert(used.end(), spi_keys.begin(), spi_keys.end());
  for (const auto& p : impl->llama->named_parameters()) used.push_back(p.key());  // keys = names
  for (const auto& name : unexpected_keys(weights, used)) {
    if (name.find("rotary_emb.inv_freq") == std::string::npos) impl->unused.push_back(name);
  }
  // After the keys are counted (a quantized weight is no parameter): int8 or the CPU layout,
  // and the file pages behind each such weight released (the decoder's module names are its
  // checkpoint keys).
  if (options.quantize_int8) progress(0.95, "int8");
  for (const auto& item : impl->llama->named_modules()) {
    if (auto* linear = dynamic_cast<layers::LinearImpl*>(item.value().get())) {
      llm::finish_loaded_linear(*linear, weights, item.key() + ".weight", options.quantize_int8,
                                options.pack_cpu_weights);
    }
  }
  llm::finish_loaded_linear(*impl->projector, weights, "model.mm_projector.weight", options.quantize_int8,
                            options.pack_cpu_weights);
  impl->tower->eval();
  impl->spi->eval();
  progress(1.0, "ready");
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
  return build_prompt(impl_->tokenizer, history, question, num_regions, image_token_count(),
                      impl_->config.text.max_position_embeddings, require_all_regions, impl_->first_turn_prefix);
}

const Gpt4roiConfig& Model::config() const { return impl_->config; }
const text::Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
const llm::Llama& Model::decoder() const { return impl_->llama; }
const torch::TensorOptions& Model::options() const { return impl_->options; }
int64_t Model::image_token_count() const { return impl_->config.vision.num_patches(); }
const std::vector<std::string>& Model::unused_keys() const { return impl_->unused; }

}  // namespace regionlm::gpt4roi
