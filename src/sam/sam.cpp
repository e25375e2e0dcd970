#include "regionlm/sam/sam.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/sam/image_encoder.hpp"
#include "regionlm/sam/mask_decoder.hpp"
#include "regionlm/sam/prompt_encoder.hpp"
#include "regionlm/sam/tiny_vit.hpp"
#include "regionlm/sam/transforms.hpp"

namespace fs = std::filesystem;

namespace regionlm::sam {

struct SamImage::Data {
  torch::Tensor embedding;  // [1, P, e, e]
  int height = 0;
  int width = 0;
  cv::Size input_size;
  double encode_ms = 0;
  const Sam::Impl* owner = nullptr;
};

int SamImage::height() const { return data_ ? data_->height : 0; }
int SamImage::width() const { return data_ ? data_->width : 0; }
cv::Size SamImage::input_size() const { return data_ ? data_->input_size : cv::Size(); }
const torch::Tensor& SamImage::embedding() const {
  static const torch::Tensor none;
  return data_ ? data_->embedding : none;
}
double SamImage::encode_ms() const { return data_ ? data_->encode_ms : 0.0; }

struct Sam::Impl {
  SamConfig config;
  fs::path weights_file;
  torch::TensorOptions options;
  ImageEncoderVit vit{nullptr};
  TinyVit tiny_vit{nullptr};
  PromptEncoder prompt_encoder{nullptr};
  MaskDecoder mask_decoder{nullptr};
  torch::Tensor dense_pe;  // [1, P, e, e]
};

namespace {

bool is_weights_file(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".pth" || ext == ".pt" || ext == ".safetensors";
}

fs::path resolve_weights(const fs::path& location) {
  if (!fs::exists(location)) throw IoError("SAM location " + location.string() + " does not exist");
  if (!fs::is_directory(location)) return location;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(location)) {
    if (entry.is_regular_file() && is_weights_file(entry.path())) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  if (found.size() != 1) {
    std::string names;
    for (const auto& f : found) names += " " + f.filename().string();
    throw IoError("SAM location " + location.string() + " must hold exactly one weights file (.pth, .pt or "
                  ".safetensors), found " + std::to_string(found.size()) + (names.empty() ? "" : ":" + names));
  }
  return found.front();
}

std::string point_text(double x, double y) {
  std::ostringstream out;
  out << "(" << x << ", " << y << ")";
  return out.str();
}

// Checks one prompt against the image; `what` names it in messages ("prompt", "prompts[3]").
void validate(const Prompt& prompt, const SamImage& image, int64_t low_res, const std::string& what) {
  if (prompt.empty()) {
    throw ArgumentError(what + ": empty prompt (give at least one point, a box or a mask input)");
  }
  const double W = image.width(), H = image.height();
  for (size_t i = 0; i < prompt.points.size(); ++i) {
    const auto& p = prompt.points[i];
    const std::string name = what + ".points[" + std::to_string(i) + "]";
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) throw ArgumentError(name + ": coordinates must be finite");
    if (p.x < 0 || p.y < 0 || p.x >= W || p.y >= H) {
      throw ArgumentError(name + " " + point_text(p.x, p.y) + " is outside the " + std::to_string(image.width()) +
                          "x" + std::to_string(image.height()) + " image (expected 0 <= x < width, 0 <= y < height)");
    }
    if (p.label != 0 && p.label != 1) {
      throw ArgumentError(name + ": label " + std::to_string(p.label) + " must be 1 (foreground) or 0 (background)");
    }
  }
  if (prompt.box) {
    const auto& b = *prompt.box;
    const std::string name = what + ".box";
    for (double v : b) {
      if (!std::isfinite(v)) throw ArgumentError(name + ": coordinates must be finite");
    }
    if (b[2] < b[0] || b[3] < b[1]) {
      throw ArgumentError(name + " " + point_text(b[0], b[1]) + "-" + point_text(b[2], b[3]) +
                          ": expected x0 <= x1 and y0 <= y1");
    }
    if (b[0] < 0 || b[1] < 0 || b[2] > W || b[3] > H) {
      throw ArgumentError(name + " " + point_text(b[0], b[1]) + "-" + point_text(b[2], b[3]) + " is outside the " +
                          std::to_string(image.width()) + "x" + std::to_string(image.height()) +
                          " image (expected 0 <= x0 <= x1 <= width, 0 <= y0 <= y1 <= height)");
    }
  }
  if (prompt.mask_input.defined()) {
    const auto& m = prompt.mask_input;
    const bool ok = (m.dim() == 2 && m.size(0) == low_res && m.size(1) == low_res) ||
                    (m.dim() == 3 && m.size(0) == 1 && m.size(1) == low_res && m.size(2) == low_res);
    if (!ok || !m.is_floating_point()) {
      throw ShapeError(what + ".mask_input: expected floating-point low-res logits [1, " + std::to_string(low_res) +
                       ", " + std::to_string(low_res) + "] or [" + std::to_string(low_res) + ", " +
                       std::to_string(low_res) + "], got " + c10::str(m.sizes()) + " " +
                       std::string(c10::toString(m.scalar_type())));
    }
  }
}

}  // namespace

Sam Sam::load(const fs::path& location, const SamLoadOptions& options) {
  const fs::path file = resolve_weights(location);
  const Weights weights = load_weights(file);
  SamConfig cfg = detect_config(weights);
  const fs::path config_file = file.parent_path() / "sam_config.json";
  if (fs::exists(config_file)) cfg = apply_config_file(cfg, config_file);

  auto impl = std::make_shared<Impl>();
  impl->config = cfg;
  impl->weights_file = file;
  impl->options = torch::TensorOptions().dtype(options.dtype).device(options.device);
  if (cfg.encoder == EncoderKind::Vit) {
    impl->vit = ImageEncoderVit(cfg, impl->options);
    load_module(*impl->vit, weights, "image_encoder.");
  } else {
    impl->tiny_vit = TinyVit(cfg, impl->options);
    load_module(*impl->tiny_vit, weights, "image_encoder.");
  }
  impl->prompt_encoder = PromptEncoder(cfg, impl->options);
  load_module(*impl->prompt_encoder, weights, "prompt_encoder.");
  impl->mask_decoder = MaskDecoder(cfg, impl->options);
  load_module(*impl->mask_decoder, weights, "mask_decoder.");
  {
    torch::NoGradGuard no_grad;
    impl->dense_pe = impl->prompt_encoder->dense_positional_encoding();  // [1, P, e, e]
  }
  Sam sam;
  sam.impl_ = std::move(impl);
  return sam;
}

const SamConfig& Sam::config() const { return impl_->config; }
const fs::path& Sam::weights_file() const { return impl_->weights_file; }
torch::Device Sam::device() const { return impl_->options.device(); }
torch::ScalarType Sam::dtype() const { return c10::typeMetaToScalarType(impl_->options.dtype()); }

SamImage Sam::encode(const cv::Mat& rgb8) const {
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  const cv::Mat resized = resize_longest_side(rgb8, impl_->config.image_size);
  const auto pixels = normalize_and_pad(resized, impl_->config.image_size, impl_->options);  // [1, 3, S, S]
  auto data = std::make_shared<SamImage::Data>();
  data->embedding = impl_->vit ? impl_->vit(pixels) : impl_->tiny_vit(pixels);  // [1, P, e, e]
  data->height = rgb8.rows;
  data->width = rgb8.cols;
  data->input_size = resized.size();
  data->owner = impl_.get();
  data->encode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  SamImage image;
  image.data_ = std::move(data);
  return image;
}

torch::Tensor Sam::upscale_logits(const SamImage& image, const torch::Tensor& low_res) const {
  if (image.empty()) throw ArgumentError("image: empty SamImage (call Sam::encode first)");
  torch::NoGradGuard no_grad;
  return postprocess_masks(low_res, impl_->config.image_size, image.input_size(),
                           cv::Size(image.width(), image.height()));  // [B, C, H, W]
}

DecodedBatch Sam::decode(const SamImage& image, const torch::Tensor& points, const torch::Tensor& labels,
                         const torch::Tensor& boxes, const torch::Tensor& mask_input, bool multimask_output,
                         bool upscale) const {
  if (image.empty()) throw ArgumentError("image: empty SamImage (call Sam::encode first)");
  if (image.data_->owner != impl_.get()) throw ArgumentError("image: encoded by another Sam model");
  torch::NoGradGuard no_grad;
  auto [sparse, dense] = impl_->prompt_encoder->forward(points, labels, boxes, mask_input, 1);  // [B, T, P], [B, P, e, e]
  auto [low_res, iou] = impl_->mask_decoder(image.embedding(), impl_->dense_pe, sparse, dense);  // [B, M, L, L], [B, M]
  if (multimask_output) {
    low_res = low_res.slice(1, 1);  // [B, M - 1, L, L]
    iou = iou.slice(1, 1);          // [B, M - 1]
  } else {
    low_res = low_res.slice(1, 0, 1);  // [B, 1, L, L]
    iou = iou.slice(1, 0, 1);          // [B, 1]
  }
  DecodedBatch out;
  out.low_res_logits = low_res.to(torch::kFloat32);
  out.iou_predictions = iou.to(torch::kFloat32);
  if (upscale) out.logits = upscale_logits(image, out.low_res_logits);  // [B, C, H, W]
  return out;
}

Masks Sam::predict(const SamImage& image, const Prompt& prompt, const PredictOptions& options) const {
  auto all = predict(image, std::vector<Prompt>{prompt}, options);
  return std::move(all.front());
}

std::vector<Masks> Sam::predict(const SamImage& image, const std::vector<Prompt>& prompts,
                                const PredictOptions& options) const {
  if (image.empty()) throw ArgumentError("image: empty SamImage (call Sam::encode first)");
  if (prompts.empty()) throw ArgumentError("prompts: no prompt given");
  const int64_t L = impl_->config.low_res_size();
  const bool single = prompts.size() == 1;
  for (size_t i = 0; i < prompts.size(); ++i) {
    validate(prompts[i], image, L, single ? "prompt" : "prompts[" + std::to_string(i) + "]");
  }
  // Group prompts of equal structure: (points, has box, has mask input).
  std::map<std::tuple<size_t, bool, bool>, std::vector<size_t>> groups;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    groups[{p.points.size(), p.box.has_value(), p.mask_input.defined()}].push_back(i);
  }
  const cv::Size original(image.width(), image.height());
  const auto device = impl_->options.device();
  std::vector<Masks> results(prompts.size());
  torch::NoGradGuard no_grad;
  for (const auto& [key, members] : groups) {
    const auto [n_points, has_box, has_mask] = key;
    const int64_t B = static_cast<int64_t>(members.size());
    torch::Tensor points, labels, boxes, masks;
    if (n_points > 0) {
      // Coordinates are transformed in float64 on the CPU (a few numbers), then moved once.
      auto xy = torch::empty({B, static_cast<int64_t>(n_points), 2}, torch::kFloat64);  // [B, N, 2]
      auto lab = torch::empty({B, static_cast<int64_t>(n_points)}, torch::kInt32);      // [B, N]
      auto xa = xy.accessor<double, 3>();
      auto la = lab.accessor<int32_t, 2>();
      for (int64_t b = 0; b < B; ++b) {
        for (size_t j = 0; j < n_points; ++j) {
          const auto& p = prompts[members[b]].points[j];
          xa[b][j][0] = p.x;
          xa[b][j][1] = p.y;
          la[b][j] = p.label;
        }
      }
      // As SamPredictor.predict: float64 transform, then float32 on the device.
      points = transform_coords(xy, original, impl_->config.image_size).to(device, torch::kFloat32);
      labels = lab.to(device);
    }
    if (has_box) {
      auto bx = torch::empty({B, 4}, torch::kFloat64);  // [B, 4]
      auto ba = bx.accessor<double, 2>();
      for (int64_t b = 0; b < B; ++b) {
        for (int k = 0; k < 4; ++k) ba[b][k] = (*prompts[members[b]].box)[k];
      }
      boxes = transform_coords(bx.view({B, 2, 2}), original, impl_->config.image_size)
                  .view({B, 4})
                  .to(device, torch::kFloat32);  // [B, 4]
    }
    if (has_mask) {
      std::vector<torch::Tensor> list;
      for (auto m : members) list.push_back(prompts[m].mask_input.reshape({1, L, L}).to(device, torch::kFloat32));
      masks = torch::stack(list);  // [B, 1, L, L]
    }
    const auto out = decode(image, points, labels, boxes, masks, options.multimask_output);
    const auto binary = out.logits > 0.0;  // [B, C, H, W]
    for (int64_t b = 0; b < B; ++b) {
      Masks& r = results[members[b]];
      r.masks = binary[b];
      r.iou_predictions = out.iou_predictions[b];
      r.low_res_logits = out.low_res_logits[b];
    }
  }
  return results;
}

std::vector<Masks> Sam::best_masks(const SamImage& image, const std::vector<Prompt>& prompts,
                                   const BestMaskOptions& options) const {
  const int64_t passes = options.refinement_passes.value_or(impl_->config.refinement_passes);
  if (passes < 0 || passes > kMaxRefinementPasses) {
    throw ArgumentError("refinement_passes: expected 0 .. " + std::to_string(kMaxRefinementPasses) + ", got " +
                        std::to_string(passes));
  }
  std::vector<Masks> chosen = predict(image, prompts, {.multimask_output = options.multimask_output});
  for (Masks& m : chosen) {
    const int64_t b = m.best();
    m.masks = m.masks.slice(0, b, b + 1);                      // [1, H, W]
    m.iou_predictions = m.iou_predictions.slice(0, b, b + 1);  // [1]
    m.low_res_logits = m.low_res_logits.slice(0, b, b + 1);    // [1, L, L]
  }
  std::vector<Prompt> again;  // the prompts with the previous pass's logits as mask input
  if (passes > 0) again = prompts;
  for (int64_t pass = 0; pass < passes; ++pass) {
    for (size_t i = 0; i < again.size(); ++i) again[i].mask_input = chosen[i].low_res_logits;
    chosen = predict(image, again, {.multimask_output = false});
  }
  return chosen;
}

Masks Sam::best_mask(const SamImage& image, const Prompt& prompt, const BestMaskOptions& options) const {
  auto all = best_masks(image, std::vector<Prompt>{prompt}, options);
  return std::move(all.front());
}

}  // namespace regionlm::sam
