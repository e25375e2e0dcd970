// regionlm-describe with --sam: a run of --point flags is one region and --box a SAM box
// prompt, each the mask SAM rates best; --everything describes every generated mask, numbered
// largest first as Set-of-Mark numbers them, in the JSON shape of docs/segment.md. The answers
// equal the library's on the same masks; points or --everything without --sam are usage
// errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "regionlm/model.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/vision/image.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

using regionlm::test::run_command;
using regionlm::test::shell_quote;
using namespace regionlm::sam;
using namespace regionlm::sam::test;

namespace {

std::pair<int, std::string> describe(const std::string& arguments) {
  const auto model_dir = regionlm::test::source_dir() / "models" / "tiny-shapes";
  return run_command(shell_quote(REGIONLM_DESCRIBE_BIN) + " --model " + shell_quote(model_dir.string()) + " " +
                     arguments);
}

std::vector<std::vector<int64_t>> tokens_of(const std::string& output) {
  const auto result = nlohmann::json::parse(output.substr(output.rfind("\n{") == std::string::npos ? 0 : output.rfind("\n{") + 1));
  std::vector<std::vector<int64_t>> tokens;
  for (const auto& answer : result["answers"]) tokens.push_back(answer["tokens"].get<std::vector<int64_t>>());
  return tokens;
}

nlohmann::json json_of(const std::string& output) {
  return nlohmann::json::parse(output.substr(output.rfind("\n{") == std::string::npos ? 0 : output.rfind("\n{") + 1));
}

// Tokens of each region's answer in an --everything result.
std::vector<std::vector<int64_t>> everything_tokens(const nlohmann::json& result) {
  std::vector<std::vector<int64_t>> tokens;
  for (const auto& region : result.at("regions")) tokens.push_back(region.at("tokens").get<std::vector<int64_t>>());
  return tokens;
}

std::vector<std::vector<int64_t>> library_tokens(const cv::Mat& rgb, const std::vector<regionlm::Region>& regions) {
  const regionlm::Model model = regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes");
  std::vector<std::vector<int64_t>> tokens;
  for (const auto& answer : model.describe_each(model.encode(rgb), regions, regionlm::prompts::kShortDescription)) {
    tokens.push_back(answer.tokens);
  }
  return tokens;
}

TEST(SamDescribeCli, PointsAndBoxBecomeSamRegions) {
  const auto sam_model = reference_model("vit-small");
  const auto [rgb, image] = test_image(90, 140, "describe-cli");
  const auto [code, out] = describe("--image " + shell_quote(image.string()) + " --sam " + shell_quote(sam_model.string()) +
                                    " --point 40,30 --point 100,60,0 --box 20,10,120,80 --point 70,45 --json");
  ASSERT_EQ(code, 0) << out;

  const Sam sam = Sam::load(sam_model);
  const SamImage encoded = sam.encode(rgb);
  const auto best = [&](const Prompt& prompt) { return sam.best_mask(encoded, prompt).region(0); };
  Prompt clicks, box, click;
  clicks.points = {{40, 30, 1}, {100, 60, 0}};
  box.box = Box{20, 10, 120, 80};
  click.points = {{70, 45, 1}};
  EXPECT_EQ(tokens_of(out), library_tokens(rgb, {best(clicks), best(box), best(click)}));
}

TEST(SamDescribeCli, EverythingDescribesEveryGeneratedMask) {
  const auto sam_model = reference_model("vit-amg");
  const auto [rgb, image] = test_image(90, 140, "describe-cli-everything");
  const auto [code, out] =
      describe("--image " + shell_quote(image.string()) + " --sam " + shell_quote(sam_model.string()) + " --everything --json");
  ASSERT_EQ(code, 0) << out;
  std::vector<GeneratedMask> masks = generate_masks(Sam::load(sam_model), rgb);
  std::stable_sort(masks.begin(), masks.end(), [](const auto& a, const auto& b) { return a.area > b.area; });
  std::vector<regionlm::Region> regions;
  for (const GeneratedMask& mask : masks) regions.push_back(mask.region());
  ASSERT_FALSE(regions.empty());
  EXPECT_EQ(everything_tokens(json_of(out)), library_tokens(rgb, regions));
}

// The JSON of --everything: one entry per mark, ids 1..N largest first, each entry's RLE,
// bbox and area describing the same mask, its answer equal to the library's on that mask,
// and the pictures written (the marked one enlarged by a whole factor to a 512 px short side).
TEST(SamDescribeCli, EverythingJsonDescribesEachMark) {
  const auto sam_model = reference_model("vit-amg");
  const auto [rgb, image] = test_image(90, 140, "describe-everything-json");
  const auto dir = regionlm::test::scratch_dir("describe-everything");
  const auto annotated = dir / "everything.png", marks = dir / "marks.png";
  const auto [code, out] = describe("--image " + shell_quote(image.string()) + " --sam " +
                                    shell_quote(sam_model.string()) + " --everything --json" + " --annotate " +
                                    shell_quote(annotated.string()) + " --marks " + shell_quote(marks.string()));
  ASSERT_EQ(code, 0) << out;
  const auto result = json_of(out);
  const auto& regions = result.at("regions");
  ASSERT_FALSE(regions.empty());
  std::vector<cv::Mat> masks;
  const std::set<std::string> keys{"id", "rle", "bbox", "area", "predicted_iou", "stability_score",
                                   "text", "refers_to", "tokens", "stop_reason"};
  int64_t previous_area = INT64_MAX;
  for (size_t k = 0; k < regions.size(); ++k) {
    const auto& r = regions[k];
    std::set<std::string> have;
    for (const auto& [key, value] : r.items()) have.insert(key);
    EXPECT_EQ(have, keys);
    EXPECT_EQ(r.at("id").get<size_t>(), k + 1);
    const auto& rle = r.at("rle");
    ASSERT_EQ(rle.at("size"), nlohmann::json::array({rgb.rows, rgb.cols}));
    const cv::Mat mask = regionlm::rle_decode(rle.at("counts").get<std::string>(), rgb.rows, rgb.cols);
    const int64_t area = r.at("area").get<int64_t>();
    EXPECT_EQ(cv::countNonZero(mask), area);
    EXPECT_LE(area, previous_area) << "regions are numbered largest first";
    previous_area = area;
    const cv::Rect box = cv::boundingRect(mask);
    // SamAutomaticMaskGenerator's bbox: x, y and inclusive extents (w, h one less than COCO's).
    EXPECT_EQ(r.at("bbox"), nlohmann::json::array({box.x, box.y, box.width - 1, box.height - 1}));
    EXPECT_GT(r.at("predicted_iou").get<double>(), 0.88);  // the generator's filter
    EXPECT_FALSE(r.at("text").get<std::string>().empty());
    for (const auto& id : r.at("refers_to")) {
      EXPECT_GE(id.get<int>(), 1);
      EXPECT_LE(id.get<size_t>(), regions.size());
    }
    masks.push_back(mask);
  }
  std::vector<regionlm::Region> library_regions;
  for (const cv::Mat& m : masks) library_regions.push_back(regionlm::Region::from_mask(m));
  EXPECT_EQ(everything_tokens(result), library_tokens(rgb, library_regions));
  EXPECT_EQ(result.at("annotated_image"), annotated.string());
  const cv::Mat picture = cv::imread(marks.string());
  const int short_side = std::min(rgb.rows, rgb.cols), scale = (512 + short_side - 1) / short_side;
  EXPECT_EQ(picture.size(), cv::Size(scale * rgb.cols, scale * rgb.rows));
  EXPECT_FALSE(cv::imread(annotated.string()).empty());
}

TEST(SamDescribeCli, PointsAndEverythingNeedSam) {
  const auto [rgb, image] = test_image(90, 140, "describe-cli-usage");
  const auto [code, out] = describe("--image " + shell_quote(image.string()) + " --point 40,30");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--sam"), std::string::npos) << out;
  EXPECT_EQ(describe("--image " + shell_quote(image.string()) + " --everything").first, 2);
  const auto sam_model = reference_model("vit-small");
  const auto [bad, message] =
      describe("--image " + shell_quote(image.string()) + " --sam " + shell_quote(sam_model.string()) + " --point 40");
  EXPECT_EQ(bad, 2) << message;
  EXPECT_NE(message.find("--point 40"), std::string::npos) << message;
}

}  // namespace
