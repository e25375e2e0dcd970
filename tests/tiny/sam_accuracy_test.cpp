// The shipped segmenter (models/tiny-shapes/sam) on 300 scenes it never saw, through the public
// API: Sam::encode once per image, one batched Sam::best_masks per scene (the candidate with
// the highest predicted IoU, refined once as the model's sam_config.json says), IoU against
// each object's visible pixels. And the whole product: a click -> that mask -> "What is
// <region>?" answered by models/tiny-shapes. Each test asserts issue 13's target (kTarget*);
// docs/tiny-shapes.md ("Accuracy of the shipped model") has the measurements.
#include <gtest/gtest.h>

#include <cstdio>

#include "regionlm/model.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_evaluation.hpp"
#include "test_util.hpp"

namespace ts = regionlm::tiny_shapes;

namespace {

constexpr int kScenes = 300;

// Issue 13's targets.
constexpr double kTargetClickIou = 0.90, kTargetBoxIou = 0.95, kTargetOccludedIou = 0.85;
constexpr double kTargetFound = 0.95, kTargetSpurious = 0.05, kTargetAnswers = 0.95;

const regionlm::sam::Sam& shipped_sam() {
  static const regionlm::sam::Sam sam =
      regionlm::sam::Sam::load(regionlm::test::source_dir() / "models" / "tiny-shapes" / "sam");
  return sam;
}

ts::SamEvalOptions scenes(uint64_t first_seed, bool heavy_overlap = false) {
  ts::SamEvalOptions o;
  o.first_seed = first_seed;
  o.num_scenes = kScenes;
  if (heavy_overlap) o.scene = ts::heavy_overlap_options();
  return o;
}

}  // namespace

TEST(TinySamAccuracy, OneClickAtARandomInteriorPixel) {
  const ts::IouReport r = ts::evaluate_prompts(shipped_sam(), scenes(2000), ts::PromptKind::kPoint);
  std::printf(
      "one click: mean IoU %.4f over %d objects (%d below 0.5; issue 13's target %.2f; unrefined %.4f), %.1f s\n",
      r.mean_iou, r.objects, r.below_half, kTargetClickIou, r.unrefined_iou, r.seconds);
  EXPECT_GE(r.objects, 3 * kScenes / 2);
  EXPECT_GE(r.mean_iou, kTargetClickIou);
}

TEST(TinySamAccuracy, Box) {
  const ts::IouReport r = ts::evaluate_prompts(shipped_sam(), scenes(2000), ts::PromptKind::kBox);
  std::printf("box: mean IoU %.4f over %d objects (%d below 0.5; issue 13's target %.2f; unrefined %.4f), %.1f s\n",
              r.mean_iou, r.objects, r.below_half, kTargetBoxIou, r.unrefined_iou, r.seconds);
  EXPECT_GE(r.mean_iou, kTargetBoxIou);
}

// Heavy-overlap scenes: clustered objects, many of them partly hidden; the target is what is
// visible of the clicked object.
TEST(TinySamAccuracy, OneClickOnOccludedObjects) {
  const ts::IouReport r = ts::evaluate_prompts(shipped_sam(), scenes(6000, true), ts::PromptKind::kPoint);
  std::printf(
      "one click, heavy overlap: mean IoU %.4f over %d objects (%d below 0.5; issue 13's target %.2f; unrefined %.4f), "
      "%.1f s\n",
      r.mean_iou, r.objects, r.below_half, kTargetOccludedIou, r.unrefined_iou, r.seconds);
  EXPECT_GE(r.mean_iou, kTargetOccludedIou);
}

TEST(TinySamAccuracy, AutomaticGenerationFindsEveryObject) {
  const ts::AutomaticReport r = ts::evaluate_automatic(shipped_sam(), scenes(3000), ts::tiny_automatic_options());
  std::printf("automatic: found %d of %d objects (%.2f %%), %d of %d masks spurious (%.2f %%; issue 13's target %.0f %%), "
              "%.1f s\n",
              r.found, r.objects, 100 * r.found_share(), r.spurious, r.masks, 100 * r.spurious_share(),
              100 * kTargetSpurious, r.seconds);
  EXPECT_GE(r.found_share(), kTargetFound);
  EXPECT_LE(r.spurious_share(), kTargetSpurious);
}

TEST(TinySamAccuracy, ClickMaskAnswer) {
  const regionlm::Model model = regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes");
  const ts::AnswerReport r = ts::evaluate_point_answers(model, shipped_sam(), scenes(4000));
  std::printf("click -> SAM mask -> \"What is <region>?\": %d / %d right (%.2f %%; issue 13's target %.0f %%), %.1f s\n",
              r.correct, r.total, 100 * r.accuracy(), 100 * kTargetAnswers, r.seconds);
  for (const auto& f : r.failures) std::printf("  wrong: %s\n", f.c_str());
  EXPECT_GE(r.accuracy(), kTargetAnswers);
}
