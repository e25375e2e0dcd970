// SAM and MobileSAM against segment-anything 1.0 / mobilesam-mirror 1.0.0 on random weights in
// the official key layout: image embeddings, low-res logits, IoU predictions and final masks
// for points, negative points, box, box + points, mask input, multimask on/off, batched boxes,
// and a click refined once (Sam::best_mask).
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "regionlm/io/weights.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using regionlm::sam::Masks;
using regionlm::sam::Prompt;
using regionlm::sam::Sam;
using namespace regionlm::sam::test;

namespace {

// Tolerances: float32 on both sides, same kernels in a different order of operations.
constexpr double kEmbeddingTol = 1e-4;  // max |diff| / max |reference|
constexpr double kLogitTol = 1e-3;      // low-res logits, same measure
constexpr double kIouTol = 1e-3;        // IoU predictions, same measure
constexpr double kMinEqual = 0.999;     // fraction of mask pixels with the same decision
constexpr double kNoise = 1e-2;         // differing pixels must have |reference logit| below this

Prompt prompt_from(const regionlm::Weights& ref, const std::string& c) {
  Prompt p;
  if (ref.contains(c + ".points")) {
    const auto xy = ref.get(c + ".points").to(torch::kFloat64);
    const auto labels = ref.get(c + ".labels").to(torch::kInt32);
    for (int64_t i = 0; i < xy.size(0); ++i) {
      p.points.push_back({xy[i][0].item<double>(), xy[i][1].item<double>(), labels[i].item<int>()});
    }
  }
  if (ref.contains(c + ".box")) {
    const auto b = ref.get(c + ".box").to(torch::kFloat64);
    p.box = regionlm::sam::Box{b[0].item<double>(), b[1].item<double>(), b[2].item<double>(), b[3].item<double>()};
  }
  if (ref.contains(c + ".mask_input")) p.mask_input = ref.get(c + ".mask_input").clone();
  return p;
}

void expect_masks_match(const Masks& actual, const torch::Tensor& ref_logits, const torch::Tensor& ref_iou,
                        const torch::Tensor& ref_low_res, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(actual.count(), ref_iou.size(0));
  const double low = relative_error(actual.low_res_logits, ref_low_res);
  const double iou = relative_error(actual.iou_predictions, ref_iou);
  EXPECT_LT(low, kLogitTol);
  EXPECT_LT(iou, kIouTol);
  double worst_equal = 1.0, worst_margin = 0.0, inside = 0.0;
  for (int64_t m = 0; m < actual.count(); ++m) {
    const auto agreement = compare_masks(actual.masks[m], ref_logits[m]);
    worst_equal = std::min(worst_equal, agreement.equal_fraction);
    worst_margin = std::max(worst_margin, agreement.worst_margin);
    inside += (ref_logits[m] > 0).to(torch::kFloat64).mean().item<double>();
  }
  EXPECT_GE(worst_equal, kMinEqual);
  EXPECT_LT(worst_margin, kNoise);
  std::cout << "[parity] " << what << ": low-res rel " << low << ", iou rel " << iou << ", mask pixels equal "
            << worst_equal << ", worst differing |logit| " << worst_margin << ", mean inside "
            << inside / actual.count() << "\n";
}

// Runs every reference case for one model kind on one image.
void check_kind(const std::string& kind, int height, int width) {
  const fs::path model = reference_model(kind);
  const auto [rgb, image_file] = test_image(height, width, kind + "-" + std::to_string(width));
  const fs::path out = regionlm::test::scratch_dir("sam-parity-" + kind) / "reference.safetensors";
  regionlm::test::run_python("tests/sam/sam_reference.py",
                             {"predict", model.string(), kind, image_file.string(), out.string()});
  const auto ref = regionlm::load_weights(out);

  const Sam sam = Sam::load(model);
  const auto image = sam.encode(rgb);
  const auto input_size = ref.get("input_size");  // (h, w)
  EXPECT_EQ(image.input_size().height, input_size[0].item<int64_t>());
  EXPECT_EQ(image.input_size().width, input_size[1].item<int64_t>());
  const double embed = relative_error(image.embedding(), ref.get("embedding"));
  EXPECT_LT(embed, kEmbeddingTol);
  std::cout << "[parity] " << kind << " " << width << "x" << height << ": embedding rel " << embed << "\n";

  int checked = 0;
  for (int i = 0; ref.contains("case" + std::to_string(i) + ".multimask"); ++i, ++checked) {
    const std::string c = "case" + std::to_string(i);
    regionlm::sam::PredictOptions options;
    options.multimask_output = ref.get(c + ".multimask")[0].item<int>() != 0;
    const auto masks = sam.predict(image, prompt_from(ref, c), options);
    expect_masks_match(masks, ref.get(c + ".logits"), ref.get(c + ".iou"), ref.get(c + ".low_res"),
                       kind + " " + c);
  }
  EXPECT_GE(checked, 9);

  // One refinement pass: the best candidate fed back as SamPredictor's mask_input.
  const Prompt click = prompt_from(ref, "refined");
  const Masks refined = sam.best_mask(image, click, {.refinement_passes = 1});
  expect_masks_match(refined, ref.get("refined.logits"), ref.get("refined.iou"), ref.get("refined.low_res"),
                     kind + " refined click");
  const Masks unrefined = sam.best_mask(image, click, {.refinement_passes = 0});
  const Masks candidates = sam.predict(image, click);
  EXPECT_TRUE(torch::equal(unrefined.low_res_logits[0], candidates.low_res_logits[candidates.best()]));
  EXPECT_TRUE(torch::equal(unrefined.masks[0], candidates.masks[candidates.best()]));

  // Batched boxes: one decoder call for all of them.
  const auto boxes = ref.get("batch.boxes").to(torch::kFloat64);
  std::vector<Prompt> prompts;
  for (int64_t b = 0; b < boxes.size(0); ++b) {
    Prompt p;
    p.box = regionlm::sam::Box{boxes[b][0].item<double>(), boxes[b][1].item<double>(), boxes[b][2].item<double>(),
                               boxes[b][3].item<double>()};
    prompts.push_back(p);
  }
  const auto batch = sam.predict(image, prompts);
  ASSERT_EQ(batch.size(), prompts.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    expect_masks_match(batch[b], ref.get("batch.logits")[b], ref.get("batch.iou")[b], ref.get("batch.low_res")[b],
                       kind + " batched box " + std::to_string(b));
  }
}

TEST(SamParity, VitSmallShrunkImage) { check_kind("vit-small", 200, 320); }

TEST(SamParity, VitSmallEnlargedImage) { check_kind("vit-small", 97, 61); }

TEST(SamParity, TinyVitSmall) { check_kind("tiny-small", 240, 320); }

TEST(SamParity, ConfigFileMatchingTheWeightsLoadsTheSameModel) {
  const Sam plain = Sam::load(reference_model("vit-small") / "sam.pth");
  const Sam configured = Sam::load(reference_model("vit-small", /*with_config=*/true));
  EXPECT_EQ(configured.config().describe(), plain.config().describe());
  EXPECT_EQ(configured.config().window_size, 5);
  EXPECT_EQ(configured.config().encoder_global_attn_indexes, (std::vector<int64_t>{1, 3}));
  const Sam tiny = Sam::load(reference_model("tiny-small", true));
  EXPECT_EQ(tiny.config().encoder, regionlm::sam::EncoderKind::TinyVit);
  EXPECT_EQ(tiny.config().embed_dims, (std::vector<int64_t>{16, 24, 32, 320}));
  EXPECT_EQ(tiny.config().num_heads, (std::vector<int64_t>{1, 2, 2, 4}));
}

// Sam::best_masks: the configured passes are the default, and a batch gives each prompt's own.
TEST(SamParity, BestMasksTakeTheConfiguredRefinementPerPrompt) {
  const fs::path dir = regionlm::test::scratch_dir("sam-refinement");
  fs::copy_file(reference_model("vit-small") / "sam.pth", dir / "sam.pth", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "sam_config.json") << R"({"refinement_passes": 2})";
  const Sam plain = Sam::load(reference_model("vit-small"));
  const Sam configured = Sam::load(dir);
  EXPECT_EQ(plain.config().refinement_passes, 0);
  EXPECT_EQ(configured.config().refinement_passes, 2);
  const auto [rgb, file] = test_image(110, 140, "refinement");
  const auto plain_image = plain.encode(rgb);
  const auto configured_image = configured.encode(rgb);
  std::vector<Prompt> prompts(3);
  prompts[0].points = {{30, 40, 1}};
  prompts[1].box = regionlm::sam::Box{10, 10, 90, 100};
  prompts[2].points = {{100, 60, 1}};
  const auto batch = configured.best_masks(configured_image, prompts);
  ASSERT_EQ(batch.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(batch[i].count(), 1);
    // Two passes by hand: the best candidate, then twice fed back with single-mask output.
    const Masks first = plain.predict(plain_image, prompts[i]);
    Prompt again = prompts[i];
    again.mask_input = first.low_res_logits[first.best()];
    const Masks second = plain.predict(plain_image, again, {.multimask_output = false});
    again.mask_input = second.low_res_logits[0];
    const Masks third = plain.predict(plain_image, again, {.multimask_output = false});
    EXPECT_LT(relative_error(batch[i].low_res_logits, third.low_res_logits), 1e-4);
    EXPECT_LT(relative_error(batch[i].iou_predictions, third.iou_predictions), 1e-4);
    EXPECT_GT(relative_error(third.low_res_logits, first.low_res_logits[first.best()].unsqueeze(0)), 1e-3)
        << "refinement changed nothing: the check above would not see a missing pass";
    // The per-call setting overrides the model's.
    const Masks once = configured.best_mask(configured_image, prompts[i], {.refinement_passes = 1});
    EXPECT_LT(relative_error(once.low_res_logits, second.low_res_logits), 1e-4);
  }
}

TEST(SamParity, ConcurrentPredictionsShareOneEncodedImage) {
  const Sam sam = Sam::load(reference_model("vit-small"));
  const auto [rgb, file] = test_image(120, 150, "threads");
  const auto image = sam.encode(rgb);
  std::vector<Prompt> prompts;
  for (int i = 0; i < 8; ++i) {
    Prompt p;
    p.points.push_back({10.0 + 15 * i, 20.0 + 10 * i, i % 2});
    prompts.push_back(p);
  }
  std::vector<Masks> serial;
  for (const auto& p : prompts) serial.push_back(sam.predict(image, p));
  std::vector<Masks> parallel(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] { parallel[i] = sam.predict(image, prompts[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(torch::equal(serial[i].masks, parallel[i].masks)) << i;
    EXPECT_LT(relative_error(parallel[i].low_res_logits, serial[i].low_res_logits), 1e-5) << i;
  }
}

TEST(SamParity, BatchedPromptsMatchOneByOne) {
  const Sam sam = Sam::load(reference_model("vit-small"));
  const auto [rgb, file] = test_image(130, 170, "batch");
  const auto image = sam.encode(rgb);
  std::vector<Prompt> prompts(5);
  prompts[0].points = {{30, 40, 1}};
  prompts[1].points = {{100, 60, 1}, {20, 20, 0}};
  prompts[2].box = regionlm::sam::Box{10, 10, 90, 100};
  prompts[3].points = {{120, 90, 1}};
  prompts[4].box = regionlm::sam::Box{50, 20, 160, 120};
  prompts[4].points = {{100, 70, 1}};
  const auto batch = sam.predict(image, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto one = sam.predict(image, prompts[i]);
    EXPECT_LT(relative_error(batch[i].low_res_logits, one.low_res_logits), 1e-4) << i;
    const auto agreement = compare_masks(batch[i].masks, (one.masks.to(torch::kFloat32) - 0.5));
    EXPECT_GE(agreement.equal_fraction, 0.9999) << i;
    // Region conversion: the best mask at the image's size, same pixels.
    const auto best = one.best();
    const cv::Mat raster = one.region(best).rasterize(image.height(), image.width());
    EXPECT_EQ(cv::countNonZero(raster), one.masks[best].sum().item<int64_t>());
  }
}

}  // namespace
