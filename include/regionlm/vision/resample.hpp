#pragma once
// Pillow-compatible bicubic resampling of 8-bit images.
//
// Osprey resizes with Pillow's `Image.resize(size, Image.BICUBIC)`, whose 8-bit resampler is
// not OpenCV's INTER_CUBIC: it is antialiased (the cubic kernel, a = -0.5, is stretched by
// the shrink factor so every source pixel contributes), runs as two separable passes
// (horizontal first, each rounded and clipped to uint8), and uses 22-bit fixed-point
// weights. This implementation follows those rules and reproduces Pillow bit for bit.
#include <opencv2/core.hpp>

#include <cstdint>

namespace regionlm::vision {

/// Resizes a CV_8U image with 1 to 4 interleaved channels to `width` x `height` exactly as
/// Pillow's BICUBIC filter does for 8-bit modes (each channel independently). A same-size
/// request returns a copy. Throws ArgumentError for another type, an empty image or a
/// non-positive target size.
cv::Mat resize_bicubic_pillow(const cv::Mat& image, int64_t width, int64_t height);

}  // namespace regionlm::vision
