#pragma once
// RoIAlign (He et al.), average pooling, with torchvision's / mmcv's sampling rules, written
// with LibTorch tensor operations so that it runs on every device LibTorch supports without
// loading torchvision's compiled library. Checked against torchvision.ops.roi_align in
// tests/gpt4roi/spi_module_test.cpp.
#include <torch/types.h>

#include <cstdint>

namespace regionlm::gpt4roi {

/// What roi_align samples.
struct RoiAlignOptions {
  int64_t output_size = 14;    // pooled side (output_size x output_size bins)
  double spatial_scale = 1.0;  // box coordinates x spatial_scale = feature-map pixels
  int64_t sampling_ratio = 2;  // samples per bin side (> 0; adaptive sampling is not offered)
  bool aligned = true;         // shift boxes by -0.5 px (pixel centres at integer + 0.5)
};

/// features [B, C, H, W] (floating point), rois [K, 5] = (batch index, x1, y1, x2, y2) in
/// input-image coordinates, same device -> [K, C, output_size, output_size] in features'
/// dtype. Each bin averages sampling_ratio^2 bilinear samples; samples more than one pixel
/// outside the map count as zero (torchvision's rule). Throws ShapeError for wrong ranks,
/// devices or a batch index outside [0, B), ArgumentError for non-positive sizes.
torch::Tensor roi_align(const torch::Tensor& features, const torch::Tensor& rois,
                        const RoiAlignOptions& options);

}  // namespace regionlm::gpt4roi
