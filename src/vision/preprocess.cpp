#include "regionlm/vision/preprocess.hpp"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"
#include "regionlm/vision/resample.hpp"

namespace regionlm::vision {
namespace {

void require_rgb8(const cv::Mat& rgb8, const char* function) {
  if (rgb8.empty() || rgb8.type() != CV_8UC3) {
    throw ArgumentError(std::string(function) + ": expected a non-empty CV_8UC3 RGB image, got " +
                        cv::typeToString(rgb8.type()) + " of " + std::to_string(rgb8.cols) + "x" +
                        std::to_string(rgb8.rows) + " (use vision::to_rgb8 first)");
  }
}

}  // namespace

cv::Size short_side_size(cv::Size input, int64_t short_side) {
  if (short_side <= 0) {
    throw ArgumentError("short_side_size: short side must be positive, got " +
                        std::to_string(short_side));
  }
  if (input.width <= 0 || input.height <= 0) {
    throw ArgumentError("short_side_size: empty input size " + std::to_string(input.width) + "x" +
                        std::to_string(input.height));
  }
  const bool portrait = input.width <= input.height;
  const double short_in = portrait ? input.width : input.height;
  const double long_in = portrait ? input.height : input.width;
  // Same double division and truncation as Python's int(size * long / short).
  const auto long_out = static_cast<int64_t>(static_cast<double>(short_side) * long_in / short_in);
  const auto s = static_cast<int>(short_side);
  const auto l = static_cast<int>(long_out);
  return portrait ? cv::Size(s, l) : cv::Size(l, s);
}

cv::Mat resize_short_side(const cv::Mat& rgb8, int64_t short_side) {
  require_rgb8(rgb8, "resize_short_side");
  const cv::Size size = short_side_size(rgb8.size(), short_side);
  return resize_bicubic_pillow(rgb8, size.width, size.height);
}

torch::Tensor preprocess(const cv::Mat& rgb8, const VisionConfig& cfg,
                         const torch::TensorOptions& options) {
  require_rgb8(rgb8, "preprocess");
  if (cfg.image_size <= 0) {
    throw ArgumentError("preprocess: VisionConfig::image_size must be positive, got " +
                        std::to_string(cfg.image_size));
  }
  const cv::Mat resized = resize_short_side(rgb8, cfg.image_size);  // continuous, fresh
  const auto device = options.device();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);

  const torch::Tensor hwc =
      torch::from_blob(resized.data, {resized.rows, resized.cols, 3}, torch::kUInt8);
  torch::Tensor x =
      hwc.to(device).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);  // [1, 3, H', W']
  x = x.div(255.0f);
  const torch::Tensor mean =
      torch::tensor({cfg.mean[0], cfg.mean[1], cfg.mean[2]}, f32).view({1, 3, 1, 1});
  const torch::Tensor std =
      torch::tensor({cfg.std[0], cfg.std[1], cfg.std[2]}, f32).view({1, 3, 1, 1});
  x = (x - mean) / std;  // [1, 3, H', W']
  namespace F = torch::nn::functional;
  x = F::interpolate(x, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{cfg.image_size, cfg.image_size})
                            .mode(torch::kBilinear)
                            .align_corners(false));  // [1, 3, S, S]
  return x.to(options.dtype()).contiguous();
}

}  // namespace regionlm::vision
