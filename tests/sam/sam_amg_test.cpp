// Automatic mask generation against segment-anything's SamAutomaticMaskGenerator on the same
// random weights (tuned so masks pass the default thresholds) and the same image: the same
// records in the same order, each mask matching its reference (IoU >= 0.99).
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

using namespace regionlm::sam;
using namespace regionlm::sam::test;

namespace {

void check_generation(const std::string& name, const AutomaticMaskOptions& options, const std::string& options_json) {
  const auto model = reference_model("vit-amg");
  const auto [rgb, image_file] = test_image(200, 320, "amg");
  const auto out = regionlm::test::scratch_dir("sam-amg-" + name) / "reference.safetensors";
  regionlm::test::run_python("tests/sam/sam_reference.py",
                             {"amg", model.string(), "vit-amg", image_file.string(), out.string(), options_json});
  const auto ref = regionlm::load_weights(out);
  const Sam sam = Sam::load(model);
  const auto start = std::chrono::steady_clock::now();
  const auto masks = generate_masks(sam, rgb, options);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  const auto ref_masks = ref.get("masks");
  const int64_t n = ref_masks.size(0);
  ASSERT_GE(n, 1) << "the reference found no mask: the test weights must yield masks";
  ASSERT_EQ(static_cast<int64_t>(masks.size()), n);
  double worst_iou = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    SCOPED_TRACE(name + " mask " + std::to_string(i));
    const auto mine = to_tensor(masks[i].segmentation).squeeze(-1).to(torch::kBool);
    const auto theirs = ref_masks[i].to(torch::kBool);
    const double inter = (mine & theirs).sum().item<double>();
    const double uni = (mine | theirs).sum().item<double>();
    const double iou = uni > 0 ? inter / uni : 1.0;
    worst_iou = std::min(worst_iou, iou);
    EXPECT_GE(iou, 0.99);
    EXPECT_NEAR(masks[i].predicted_iou, ref.get("predicted_iou")[i].item<double>(), 1e-4);
    const double ref_stability = ref.get("stability_score")[i].item<double>();
    if (std::isnan(ref_stability)) {
      EXPECT_TRUE(std::isnan(masks[i].stability_score));  // an empty mask: 0 / 0 in both
    } else {
      EXPECT_NEAR(masks[i].stability_score, ref_stability, 1e-3);
    }
    EXPECT_EQ(masks[i].area, ref.get("area")[i].item<int64_t>());
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(masks[i].bbox[k], ref.get("bbox")[i][k].item<double>());
      EXPECT_EQ(masks[i].crop_box[k], ref.get("crop_box")[i][k].item<double>());
    }
    for (int k = 0; k < 2; ++k) EXPECT_NEAR(masks[i].point_coords[k], ref.get("point_coords")[i][k].item<double>(), 1e-9);
  }
  std::string seconds;
  for (const auto& [k, v] : regionlm::safetensors_metadata(out)) {
    if (k == "seconds") seconds = v;
  }
  std::cout << "[parity] amg " << name << ": " << n << " masks, worst matched IoU " << worst_iou << "; C++ " << ms
            << " ms, segment-anything " << std::stod(seconds) * 1000 << " ms\n";
}

TEST(SamAutomaticMasks, DefaultsMatchTheReference) { check_generation("defaults", {}, "{}"); }

TEST(SamAutomaticMasks, CropLayersAndSmallRegionRemovalMatchTheReference) {
  AutomaticMaskOptions options;
  options.points_per_side = 16;
  options.points_per_batch = 50;
  options.crop_n_layers = 1;
  options.min_mask_region_area = 200;
  check_generation("crops", options,
                   R"({"points_per_side": 16, "points_per_batch": 50, "crop_n_layers": 1, "min_mask_region_area": 200})");
}

// Without the quality filters and with NMS disabled every grid mask is kept: 192 records whose
// order, boxes, areas and scores must all agree.
TEST(SamAutomaticMasks, EveryMaskKeptWhenFiltersAreOff) {
  AutomaticMaskOptions options;
  options.points_per_side = 8;
  options.pred_iou_thresh = 0.0;
  options.stability_score_thresh = 0.0;
  options.box_nms_thresh = 1.0;
  check_generation("unfiltered", options,
                   R"({"points_per_side": 8, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 1.0})");
}

TEST(SamAutomaticMasks, RejectsBadOptions) {
  const Sam sam = Sam::load(reference_model("vit-amg"));
  const cv::Mat image(32, 32, CV_8UC3, cv::Scalar::all(90));
  AutomaticMaskOptions bad;
  bad.points_per_side = 0;
  EXPECT_THROW(generate_masks(sam, image, bad), regionlm::ArgumentError);
  bad = {};
  bad.points_per_batch = 0;
  EXPECT_THROW(generate_masks(sam, image, bad), regionlm::ArgumentError);
  bad = {};
  bad.crop_n_layers = -1;
  EXPECT_THROW(generate_masks(sam, image, bad), regionlm::ArgumentError);
  EXPECT_THROW(generate_masks(sam, cv::Mat(), {}), regionlm::ArgumentError);
}

}  // namespace
