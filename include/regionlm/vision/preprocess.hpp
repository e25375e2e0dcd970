#pragma once
// Osprey's image preprocessing (spec §1): short side to `image_size` with Pillow-compatible
// bicubic, x / 255, CLIP mean/std normalisation, then a bilinear *stretch* (no crop, no pad)
// to image_size x image_size.
#include <opencv2/core.hpp>
#include <torch/types.h>

#include <cstdint>

#include "regionlm/config.hpp"

namespace regionlm::vision {

/// Output size (width, height) of `resize_short_side`: the short side becomes `short_side`,
/// the long side `int(short_side * long / short)` (truncated), as CLIP's image processor
/// computes it. Square inputs map to short_side x short_side.
cv::Size short_side_size(cv::Size input, int64_t short_side);

/// Resizes CV_8UC3 RGB so the short side is `short_side` with Pillow's BICUBIC filter
/// (bit-exact). Throws ArgumentError for another type, an empty image or short_side <= 0.
cv::Mat resize_short_side(const cv::Mat& rgb8, int64_t short_side);

/// The full pipeline on CV_8UC3 RGB (see image.hpp for getting one): returns
/// [1, 3, S, S] pixels with S = cfg.image_size, on options' device, in options' dtype.
/// Normalisation and the bilinear stretch (align_corners = false, no antialias) run in
/// float32 on that device; the result is cast to the dtype last.
/// Throws ArgumentError for a wrong image type or a non-positive cfg.image_size.
torch::Tensor preprocess(const cv::Mat& rgb8, const VisionConfig& cfg,
                         const torch::TensorOptions& options);

}  // namespace regionlm::vision
