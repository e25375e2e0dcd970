#pragma once
// segment-anything's pre- and post-processing (ResizeLongestSide, Sam.preprocess,
// Sam.postprocess_masks), reproduced exactly:
//  - the image's longest side is resized to the encoder size with Pillow's BILINEAR filter on
//    uint8 (antialiased when shrinking; what torchvision's resize does to a PIL image);
//  - pixels are normalised with SAM's mean/std and zero-padded right and bottom to a square;
//  - point and box coordinates are scaled by new/old size per axis;
//  - low-resolution mask logits are upscaled (bilinear, align_corners = false) to the encoder
//    size, cropped to the resized image, upscaled again to the original size.
#include <opencv2/core.hpp>
#include <torch/types.h>

#include <cstdint>

namespace regionlm::sam {

/// SAM's pixel mean and standard deviation (RGB, 0..255 scale).
inline constexpr double kPixelMean[3] = {123.675, 116.28, 103.53};
inline constexpr double kPixelStd[3] = {58.395, 57.12, 57.375};

/// Size (width, height) after scaling the longest side to `long_side`: each side is
/// `int(side * long_side / max(h, w) + 0.5)`, computed in double as the reference does.
/// Throws ArgumentError for an empty size or a non-positive long_side.
cv::Size preprocess_size(cv::Size original, int64_t long_side);

/// Resizes CV_8UC3 RGB to `preprocess_size(...)` with Pillow's bilinear filter (bit-exact).
/// Throws ArgumentError for another image type.
cv::Mat resize_longest_side(const cv::Mat& rgb8, int64_t long_side);

/// [1, 3, S, S] encoder input from an already resized CV_8UC3 RGB image: (x - mean) / std in
/// float32 on options' device, zero-padded to S = image_size, cast to options' dtype.
/// Throws ArgumentError when the image is larger than S or not CV_8UC3.
torch::Tensor normalize_and_pad(const cv::Mat& resized_rgb8, int64_t image_size,
                                const torch::TensorOptions& options);

/// Scales coordinates [..., 2] (x, y; any floating dtype, computed in float64) from an image
/// of size `original` to the resized frame of `preprocess_size(original, long_side)`.
torch::Tensor transform_coords(const torch::Tensor& xy, cv::Size original, int64_t long_side);

/// Low-resolution logits [B, C, L, L] -> logits at the original size [B, C, H, W] (float32):
/// upscale to image_size, crop to `input_size` (the resized image inside the padding),
/// upscale to `original`.
torch::Tensor postprocess_masks(const torch::Tensor& low_res, int64_t image_size, cv::Size input_size,
                                cv::Size original);

}  // namespace regionlm::sam
