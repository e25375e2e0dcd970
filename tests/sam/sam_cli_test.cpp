// regionlm-segment: its JSON masks are the library's masks (COCO compressed RLE), best first;
// --multimask gives three; --best is Sam::best_mask's; --everything runs the generator; bad
// command lines exit with 2.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/sam/scribble.hpp"
#include <opencv2/imgproc.hpp>
#include "sam_test_util.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using regionlm::test::run_command;
using regionlm::test::shell_quote;
using namespace regionlm::sam;
using namespace regionlm::sam::test;

namespace {

std::pair<int, std::string> segment(const std::string& arguments) {
  return run_command(shell_quote(REGIONLM_SEGMENT_BIN) + " " + arguments);
}

nlohmann::json last_json_line(const std::string& output) {
  const auto start = output.rfind("\n{");
  return nlohmann::json::parse(start == std::string::npos ? output : output.substr(start + 1));
}

TEST(SamCli, PointPromptGivesTheLibrarysSingleMask) {
  const auto model = reference_model("vit-small");
  const auto [rgb, image] = test_image(90, 140, "cli");
  const auto overlay = regionlm::test::scratch_dir("sam-cli") / "overlay.png";
  const auto [code, out] = segment("--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                                   " --point 40,30 --point 100,60,0 --json --overlay " + shell_quote(overlay.string()));
  ASSERT_EQ(code, 0) << out;
  const auto result = last_json_line(out);
  ASSERT_EQ(result["masks"].size(), 1u);
  const auto& m = result["masks"][0];
  EXPECT_EQ(m["rle"]["size"], nlohmann::json::array({90, 140}));
  const cv::Mat decoded = regionlm::rle_decode(m["rle"]["counts"].get<std::string>(), 90, 140);

  const Sam sam = Sam::load(model);
  Prompt prompt;
  prompt.points = {{40, 30, 1}, {100, 60, 0}};
  PredictOptions options;
  options.multimask_output = false;
  const auto expected = sam.predict(sam.encode(rgb), prompt, options);
  EXPECT_EQ(cv::norm(decoded, expected.mask(0), cv::NORM_L1), 0.0);
  EXPECT_EQ(m["area"].get<int>(), cv::countNonZero(decoded));
  EXPECT_NEAR(m["score"].get<double>(), expected.iou_predictions[0].item<double>(), 1e-6);
  const cv::Rect box = cv::boundingRect(decoded);
  EXPECT_EQ(m["bbox"], nlohmann::json::array({box.x, box.y, box.width, box.height}));
  EXPECT_TRUE(result["timings"].contains("encode_ms"));
  EXPECT_TRUE(fs::exists(overlay));
}

TEST(SamCli, MultimaskBestFirstAndBoxPrompt) {
  const auto model = reference_model("vit-small");
  const auto [rgb, image] = test_image(90, 140, "cli-multi");
  const auto [code, out] = segment("--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                                   " --box 10,10,80,70 --point 40,40 --multimask --json");
  ASSERT_EQ(code, 0) << out;
  const auto masks = last_json_line(out)["masks"];
  ASSERT_EQ(masks.size(), 3u);
  EXPECT_GE(masks[0]["score"].get<double>(), masks[1]["score"].get<double>());
  EXPECT_GE(masks[1]["score"].get<double>(), masks[2]["score"].get<double>());
}

TEST(SamCli, ScribbleFileIsSampledIntoTheSamePrompt) {
  const auto model = reference_model("vit-small");
  const auto [rgb, image] = test_image(90, 140, "cli-scribble");
  const auto file = regionlm::test::scratch_dir("sam-cli-scribble") / "scribble.json";
  std::ofstream(file) << R"({"scribbles": [{"points": [[20, 20], [60, 40]], "label": 1}, {"points": [[120, 80]], "label": 0}]})";
  const auto [code, out] = segment("--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                                   " --scribble " + shell_quote(file.string()) + " --json");
  ASSERT_EQ(code, 0) << out;
  const auto m = last_json_line(out)["masks"][0];
  const cv::Mat decoded = regionlm::rle_decode(m["rle"]["counts"].get<std::string>(), 90, 140);
  const Sam sam = Sam::load(model);
  Prompt prompt;
  prompt.points = scribble_points({{20, 20}, {60, 40}}, 1);
  const auto negative = scribble_points({{120, 80}}, 0);
  prompt.points.insert(prompt.points.end(), negative.begin(), negative.end());
  PredictOptions options;
  options.multimask_output = false;
  EXPECT_EQ(cv::norm(decoded, sam.predict(sam.encode(rgb), prompt, options).mask(0), cv::NORM_L1), 0.0);
}

TEST(SamCli, EverythingListsTheGeneratorsMasks) {
  const auto model = reference_model("vit-amg");
  const auto [rgb, image] = test_image(60, 90, "cli-everything");
  const auto [code, out] = segment("--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                                   " --everything --points-per-side 8 --json");
  ASSERT_EQ(code, 0) << out;
  const auto masks = last_json_line(out)["masks"];
  AutomaticMaskOptions options;
  options.points_per_side = 8;
  const auto expected = generate_masks(Sam::load(model), rgb, options);
  ASSERT_EQ(masks.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(masks[i]["rle"]["counts"].get<std::string>(), regionlm::rle_encode(expected[i].segmentation));
  }
}

// Every generator setting on the command line reaches generate_masks (values away from the
// defaults, so a flag that was dropped changes the masks).
TEST(SamCli, EverythingTakesTheGeneratorsSettings) {
  const auto model = reference_model("vit-amg");
  const auto [rgb, image] = test_image(60, 90, "cli-everything-settings");
  const auto [code, out] =
      segment("--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
              " --everything --points-per-side 6 --pred-iou-thresh 0.2 --stability-score-thresh 0.3"
              " --stability-score-offset 0.5 --box-nms-thresh 0.4 --min-mask-region-area 12 --json");
  ASSERT_EQ(code, 0) << out;
  const auto masks = last_json_line(out)["masks"];
  AutomaticMaskOptions options;
  options.points_per_side = 6;
  options.pred_iou_thresh = 0.2;
  options.stability_score_thresh = 0.3;
  options.stability_score_offset = 0.5;
  options.box_nms_thresh = 0.4;
  options.min_mask_region_area = 12;
  const auto expected = generate_masks(Sam::load(model), rgb, options);
  ASSERT_EQ(masks.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(masks[i]["rle"]["counts"].get<std::string>(), regionlm::rle_encode(expected[i].segmentation));
  }
  const std::string base = "--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                           " --everything";
  for (const char* bad : {" --points-per-side 0", " --points-per-side 300", " --pred-iou-thresh 1.5",
                          " --stability-score-thresh -0.1", " --box-nms-thresh x", " --min-mask-region-area -1"}) {
    const auto [bad_code, bad_out] = segment(base + bad);
    EXPECT_EQ(bad_code, 2) << bad << ": " << bad_out;
    const std::string flag = std::string(bad).substr(1, std::string(bad).find(' ', 1) - 1);
    EXPECT_NE(bad_out.find(flag), std::string::npos) << bad_out;
  }
}

TEST(SamCli, BestIsTheLibrarysBestMask) {
  const auto model = reference_model("vit-small");
  const auto [rgb, image] = test_image(90, 140, "cli-best");
  const std::string base = "--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string()) +
                           " --point 40,30 --json --best";
  const Sam sam = Sam::load(model);
  const SamImage encoded = sam.encode(rgb);
  Prompt prompt;
  prompt.points = {{40, 30, 1}};
  for (const int passes : {0, 2}) {
    SCOPED_TRACE(passes);
    const auto [code, out] = segment(base + (passes ? " --refinement-passes 2" : ""));
    ASSERT_EQ(code, 0) << out;
    const auto masks = last_json_line(out)["masks"];
    ASSERT_EQ(masks.size(), 1u);
    const Masks expected = sam.best_mask(encoded, prompt, {.refinement_passes = passes});
    EXPECT_EQ(masks[0]["rle"]["counts"], regionlm::rle_encode(expected.mask(0)));
    EXPECT_NEAR(masks[0]["score"].get<double>(), expected.iou_predictions[0].item<double>(), 1e-6);
  }
}

TEST(SamCli, UsageErrorsExitWithTwo) {
  const auto model = reference_model("vit-small");
  const auto [rgb, image] = test_image(40, 40, "cli-usage");
  const std::string base = "--sam " + shell_quote(model.string()) + " --image " + shell_quote(image.string());
  EXPECT_EQ(segment(base).first, 2);                           // no prompt
  EXPECT_EQ(segment(base + " --point 1,2,3").first, 2);        // bad label
  EXPECT_EQ(segment(base + " --box 1,2,3").first, 2);          // three numbers
  EXPECT_EQ(segment(base + " --everything --point 1,1").first, 2);
  EXPECT_EQ(segment(base + " --point 1,1 --refinement-passes 1").first, 2);  // without --best
  EXPECT_EQ(segment(base + " --point 1,1 --best --refinement-passes 9").first, 2);
  EXPECT_EQ(segment(base + " --point 1,1 --best --multimask").first, 2);
  const auto [code, out] = segment(base + " --point 100,5");   // outside the 40x40 image
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("outside"), std::string::npos) << out;
}

}  // namespace
