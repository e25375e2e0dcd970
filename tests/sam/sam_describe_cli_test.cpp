// regionlm-describe with --sam: a run of --point flags is one region and --box a SAM box
// prompt, each the mask SAM rates best; --everything describes every generated mask. The
// answers equal the library's on the same masks; points or --everything without --sam are
// usage errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "regionlm/model.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
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
  const auto best = [&](const Prompt& prompt) {
    const Masks masks = sam.predict(encoded, prompt);
    return masks.region(masks.best());
  };
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
  std::vector<regionlm::Region> regions;
  for (const GeneratedMask& mask : generate_masks(Sam::load(sam_model), rgb)) regions.push_back(mask.region());
  ASSERT_FALSE(regions.empty());
  EXPECT_EQ(tokens_of(out), library_tokens(rgb, regions));
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
