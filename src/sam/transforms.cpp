#include "regionlm/sam/transforms.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "regionlm/error.hpp"
#include "regionlm/vision/resample.hpp"

namespace regionlm::sam {

namespace F = torch::nn::functional;

cv::Size preprocess_size(cv::Size original, int64_t long_side) {
  if (original.width <= 0 || original.height <= 0 || long_side <= 0) {
    throw ArgumentError("SAM resize: image size " + std::to_string(original.width) + "x" +
                        std::to_string(original.height) + " / target " + std::to_string(long_side) +
                        " must be positive");
  }
  const double scale = static_cast<double>(long_side) * 1.0 / std::max(original.height, original.width);
  const double h = original.height * scale, w = original.width * scale;
  return cv::Size(static_cast<int>(w + 0.5), static_cast<int>(h + 0.5));
}

cv::Mat resize_longest_side(const cv::Mat& rgb8, int64_t long_side) {
  if (rgb8.empty() || rgb8.type() != CV_8UC3) {
    throw ArgumentError("image: expected a non-empty CV_8UC3 RGB image, got type " +
                        cv::typeToString(rgb8.type()));
  }
  const cv::Size size = preprocess_size(rgb8.size(), long_side);
  return vision::resize_pillow(rgb8, size.width, size.height, vision::PillowFilter::Bilinear);
}

torch::Tensor normalize_and_pad(const cv::Mat& resized_rgb8, int64_t image_size,
                                const torch::TensorOptions& options) {
  if (resized_rgb8.empty() || resized_rgb8.type() != CV_8UC3 || resized_rgb8.rows > image_size ||
      resized_rgb8.cols > image_size) {
    throw ArgumentError("SAM preprocess: expected a CV_8UC3 image at most " + std::to_string(image_size) +
                        " px per side, got " + std::to_string(resized_rgb8.cols) + "x" +
                        std::to_string(resized_rgb8.rows) + " of type " + cv::typeToString(resized_rgb8.type()));
  }
  const cv::Mat continuous = resized_rgb8.isContinuous() ? resized_rgb8 : resized_rgb8.clone();
  const auto hwc = torch::from_blob(continuous.data, {continuous.rows, continuous.cols, 3}, torch::kUInt8);
  const auto f32 = options.dtype(torch::kFloat32);
  auto x = hwc.to(options.device()).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);  // [1, 3, h, w]
  const auto mean = torch::tensor({kPixelMean[0], kPixelMean[1], kPixelMean[2]}, f32).view({1, 3, 1, 1});
  const auto std = torch::tensor({kPixelStd[0], kPixelStd[1], kPixelStd[2]}, f32).view({1, 3, 1, 1});
  x = (x - mean) / std;  // [1, 3, h, w]
  x = torch::constant_pad_nd(x, {0, image_size - continuous.cols, 0, image_size - continuous.rows});  // [1, 3, S, S]
  return x.to(options.dtype());
}

torch::Tensor transform_coords(const torch::Tensor& xy, cv::Size original, int64_t long_side) {
  const cv::Size resized = preprocess_size(original, long_side);
  auto out = xy.to(torch::kFloat64).clone();  // [..., 2]
  out.select(-1, 0).mul_(static_cast<double>(resized.width) / original.width);
  out.select(-1, 1).mul_(static_cast<double>(resized.height) / original.height);
  return out;
}

torch::Tensor postprocess_masks(const torch::Tensor& low_res, int64_t image_size, cv::Size input_size,
                                cv::Size original) {
  auto m = F::interpolate(low_res.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                           .size(std::vector<int64_t>{image_size, image_size})
                                                           .mode(torch::kBilinear)
                                                           .align_corners(false));  // [B, C, S, S]
  m = m.slice(2, 0, input_size.height).slice(3, 0, input_size.width);             // [B, C, h, w]
  return F::interpolate(m, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{original.height, original.width})
                               .mode(torch::kBilinear)
                               .align_corners(false));  // [B, C, H, W]
}

}  // namespace regionlm::sam
