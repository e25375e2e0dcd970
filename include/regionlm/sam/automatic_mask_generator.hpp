#pragma once
// "Segment everything": segment-anything's SamAutomaticMaskGenerator reproduced. A grid of
// single-point prompts is decoded in batches (3 masks per point), masks are filtered by
// predicted IoU and stability score, de-duplicated by box non-maximum suppression (per crop,
// then across crops), optionally cleaned of small holes and islands, and returned in the
// reference's order.
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <vector>

#include "regionlm/region/region.hpp"
#include "regionlm/sam/sam.hpp"

namespace regionlm::sam {

/// SamAutomaticMaskGenerator's parameters, same names and defaults.
struct AutomaticMaskOptions {
  int points_per_side = 32;               // grid side; points_per_side^2 prompts per crop; default 32
  int points_per_batch = 64;              // prompts per decoder call; default 64
  double pred_iou_thresh = 0.88;          // keep masks with predicted IoU above this; default 0.88
  double stability_score_thresh = 0.95;   // keep masks with stability >= this; default 0.95
  double stability_score_offset = 1.0;    // logit offset of the stability score; default 1.0
  double box_nms_thresh = 0.7;            // box IoU of duplicates within a crop; default 0.7
  int crop_n_layers = 0;                  // extra crop layers (layer i has (2^i)^2 crops); default 0
  double crop_nms_thresh = 0.7;           // box IoU of duplicates across crops; default 0.7
  double crop_overlap_ratio = 512.0 / 1500.0;  // crop overlap, fraction of the short side; default 512/1500
  int crop_n_points_downscale_factor = 1;  // grid side divided by this^layer in crop layers; default 1
  int min_mask_region_area = 0;           // px; > 0 removes smaller holes and islands; default 0
};

/// One generated mask (SamAutomaticMaskGenerator's record).
struct GeneratedMask {
  cv::Mat segmentation;                  // H x W CV_8UC1 0/1 at the image's size
  int64_t area = 0;                      // pixels inside
  std::array<double, 4> bbox{};          // x, y, w, h (inclusive pixel extents, as the reference)
  double predicted_iou = 0;              // the decoder's IoU estimate
  std::array<double, 2> point_coords{};  // the grid point that produced it, px
  double stability_score = 0;            // IoU of the masks thresholded at +/- offset
  std::array<double, 4> crop_box{};      // x, y, w, h of the crop it came from
  /// The mask as a Region.
  Region region() const { return Region::from_mask(segmentation); }
};

/// Runs the generator on a CV_8UC3 RGB image. Throws ArgumentError for options out of range
/// (points_per_side or points_per_batch < 1, negative crop layers, ...) or a bad image.
std::vector<GeneratedMask> generate_masks(const Sam& sam, const cv::Mat& rgb8,
                                          const AutomaticMaskOptions& options = {});

}  // namespace regionlm::sam
