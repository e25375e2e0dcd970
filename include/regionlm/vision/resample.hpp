#pragma once
// Pillow-compatible bicubic and bilinear resampling of 8-bit images.
//
// Osprey resizes with Pillow's `Image.resize(size, Image.BICUBIC)`, whose 8-bit resampler is
// not OpenCV's INTER_CUBIC: it is antialiased (the cubic kernel, a = -0.5, is stretched by
// the shrink factor so every source pixel contributes), runs as two separable passes
// (horizontal first unless the height shrinks by more than twice as many pixels as the width,
// each rounded and clipped to uint8), and uses 22-bit fixed-point
// weights. This implementation follows those rules and reproduces Pillow bit for bit. Pillow's
// BILINEAR (what segment-anything's ResizeLongestSide uses through torchvision) is the same
// machinery with the triangle kernel (support 1, also stretched when shrinking).
#include <opencv2/core.hpp>

#include <cstdint>

namespace regionlm::vision {

/// Pillow's 8-bit resampling filters reproduced here.
enum class PillowFilter { Bilinear, Bicubic };

/// Resizes a CV_8U image with 1 to 4 interleaved channels to `width` x `height` exactly as
/// Pillow's `Image.resize` does with `filter` for 8-bit modes (each channel independently).
/// A same-size request returns a copy. Throws ArgumentError for another type, an empty image
/// or a non-positive target size.
cv::Mat resize_pillow(const cv::Mat& image, int64_t width, int64_t height, PillowFilter filter);

/// `resize_pillow(image, width, height, PillowFilter::Bicubic)`.
cv::Mat resize_bicubic_pillow(const cv::Mat& image, int64_t width, int64_t height);

}  // namespace regionlm::vision
