#pragma once
// What a SAM prompt is and what a prediction returns.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "regionlm/region/region.hpp"

namespace regionlm::sam {

/// A click in original-image pixel coordinates (x right, y down; the centre of pixel (i, j)
/// is (i + 0.5, j + 0.5), and integer clicks are used as SAM's demos use them).
struct Point {
  double x = 0;   // px, 0 <= x < image width
  double y = 0;   // px, 0 <= y < image height
  int label = 1;  // 1 = foreground (default), 0 = background
};

/// A box in original-image pixel coordinates: x0, y0, x1, y1 with x0 <= x1, y0 <= y1.
using Box = std::array<double, 4>;

/// One prompt: any mix of points, at most one box and a previous low-resolution mask. All of
/// them together describe ONE object.
struct Prompt {
  std::vector<Point> points;  // clicks; may be empty
  std::optional<Box> box;     // a dragged box; optional
  torch::Tensor mask_input;   // low-res logits [1, L, L] or [L, L] (L = 4 * embedding side,
                              // 256 for the official models), e.g. Masks::low_res_logits[i]; optional
  /// Whether nothing at all is given.
  bool empty() const { return points.empty() && !box && !mask_input.defined(); }
};

/// How a prompt is decoded.
struct PredictOptions {
  bool multimask_output = true;  // three candidate masks (true, default) or the single-mask output
};

/// How Sam::best_masks picks the one mask a prompt selects.
struct BestMaskOptions {
  bool multimask_output = true;              // best of the three candidates (default) or the single-mask output
  std::optional<int64_t> refinement_passes;  // 0 .. 8 passes; unset (default): SamConfig::refinement_passes
};

/// The masks SAM predicts for one prompt, in the decoder's order (best-first ordering is
/// `order()`): C = 3 with multimask output, 1 without.
struct Masks {
  torch::Tensor masks;            // [C, H, W] bool at the original image size, model device
  torch::Tensor iou_predictions;  // [C] float32, the decoder's quality estimate
  torch::Tensor low_res_logits;   // [C, L, L] float32, reusable as Prompt::mask_input

  int64_t count() const { return masks.defined() ? masks.size(0) : 0; }
  /// Index of the highest predicted IoU.
  int64_t best() const;
  /// Indices sorted by predicted IoU, highest first (ties keep decoder order).
  std::vector<int64_t> order() const;
  /// Mask i as an H x W CV_8UC1 0/1 matrix (copied to the CPU). Throws ArgumentError for a
  /// bad index.
  cv::Mat mask(int64_t i) const;
  /// Mask i as a Region (a mask region at the image's size).
  Region region(int64_t i) const;
};

}  // namespace regionlm::sam
