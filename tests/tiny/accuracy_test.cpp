// The shipped models/tiny-shapes answers questions about scenes it never saw, asked through the
// public API (Model::encode once per image, Model::describe per question, greedy), and pixel
// masks beat boxes on heavily overlapping objects. Test scenes use seeds below 2^32; training
// draws only seeds (seed << 32) | index with seed >= 1, so none of these was trained on.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <iostream>

#include "evaluation.hpp"
#include "regionlm/model.hpp"
#include "test_util.hpp"

namespace ts = regionlm::tiny_shapes;

namespace {

const regionlm::Model& shipped_model() {
  // One thread: ctest runs test programs side by side, and this model is too small to gain
  // from more.
  torch::set_num_threads(1);
  static const regionlm::Model model =
      regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes");
  return model;
}

}  // namespace

TEST(TinyAccuracy, AnswersFreshScenes) {
  ts::EvalOptions options;
  options.first_seed = 1000;
  options.num_scenes = 300;
  const ts::EvalReport report = ts::evaluate(shipped_model(), options);
  std::cout << "300 fresh scenes:\n" << ts::format_report(report);
  std::cout << ts::format_failures(report);
  EXPECT_GE(report[ts::QuestionKind::kWhat].accuracy(), 0.97);
  EXPECT_GE(report[ts::QuestionKind::kShortDescription].accuracy(), 0.97);
  EXPECT_GE(report[ts::QuestionKind::kColor].accuracy(), 0.97);
  EXPECT_GE(report[ts::QuestionKind::kShape].accuracy(), 0.97);
  EXPECT_GE(report[ts::QuestionKind::kLeftOf].accuracy(), 0.90);
  EXPECT_GE(report[ts::QuestionKind::kSameColor].accuracy(), 0.90);
  EXPECT_GE(report[ts::QuestionKind::kWhat].total, 300);
}

// The same objects of heavy-overlap scenes, asked "What is <region>?" with the mask and with
// the box of the same visible pixels.
TEST(TinyAccuracy, MasksBeatBoxesOnHeavyOverlap) {
  ts::EvalOptions options;
  options.first_seed = 5000;
  options.num_scenes = 150;
  options.scene = ts::heavy_overlap_options();
  options.what_only = true;
  const ts::EvalReport masks = ts::evaluate(shipped_model(), options);
  options.boxes = true;
  const ts::EvalReport boxes = ts::evaluate(shipped_model(), options);
  const double with_masks = masks[ts::QuestionKind::kWhat].accuracy();
  const double with_boxes = boxes[ts::QuestionKind::kWhat].accuracy();
  std::cout << "heavy overlap, \"What is <region>?\": masks " << 100 * with_masks << " %, boxes "
            << 100 * with_boxes << " % (" << masks[ts::QuestionKind::kWhat].total << " objects)\n";
  EXPECT_GE(with_masks - with_boxes, 0.10);
}

// Weight-only int8 (LoadOptions::quantize = "int8") answers the same fresh scenes within one
// point of float32, for every question kind.
TEST(TinyAccuracy, Int8IsWithinOnePointOfFloat) {
  regionlm::LoadOptions load;
  load.quantize = "int8";
  const regionlm::Model int8 = regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes", load);
  ts::EvalOptions options;
  options.first_seed = 9000;
  options.num_scenes = 200;
  const ts::EvalReport f32 = ts::evaluate(shipped_model(), options);
  const ts::EvalReport q8 = ts::evaluate(int8, options);
  std::cout << "float32:\n" << ts::format_report(f32) << "int8:\n" << ts::format_report(q8);
  for (size_t k = 0; k < f32.by_kind.size(); ++k) {
    if (f32.by_kind[k].total == 0) continue;
    EXPECT_EQ(q8.by_kind[k].total, f32.by_kind[k].total);
    EXPECT_NEAR(q8.by_kind[k].accuracy(), f32.by_kind[k].accuracy(), 0.01) << "question kind " << k;
  }
  std::cout << "wall: float32 " << f32.seconds << " s, int8 " << q8.seconds << " s\n";
}
