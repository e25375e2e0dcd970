// The web page in headless Chromium (Selenium): load the bundled scene, click inside an object,
// wait for SAM's mask overlay, ask "What is <region1>?", wait for the streamed answer — which
// must equal the library's answer on the mask SAM gives for that click — and press "Describe
// everything", whose marks must be the library's descriptions of SAM's automatic masks.
// Screenshots are written next to the test's scratch files.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "regionlm/model.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/vision/image.hpp"
#include "sam_test_util.hpp"
#include "server_test_util.hpp"
#include "test_util.hpp"

using json = nlohmann::json;
using namespace regionlm;
using namespace regionlm::server::test;

namespace {

/// The trained tiny-shapes SAM when the checkout has one, else a small random-weight SAM.
std::filesystem::path sam_location() {
  const auto trained = model_dir() / "sam";
  if (std::filesystem::exists(trained)) return trained;
  return sam::test::reference_model("vit-amg");
}

TEST(ServerBrowser, ClickSegmentAskAndDescribeEverything) {
  const auto sam_dir = sam_location();
  ServerProcess server({"--model", model_dir().string(), "--sam", sam_dir.string()}, "browser");
  const Model model = Model::load(model_dir());
  const sam::Sam segmenter = sam::Sam::load(sam_dir);
  const cv::Mat rgb = vision::load_image(scene_dir() / "image.png");

  // Click at the centre of the orange triangle (mask_2).
  const cv::Mat triangle = cv::imread((scene_dir() / "mask_2.png").string(), cv::IMREAD_GRAYSCALE);
  const cv::Moments moments = cv::moments(triangle, true);
  const int x = static_cast<int>(moments.m10 / moments.m00), y = static_cast<int>(moments.m01 / moments.m00);
  const std::string question = "What is <region1>?";
  const auto screenshots = regionlm::test::scratch_dir("server-browser") / "page";
  const auto [code, output] = regionlm::test::run_command(
      regionlm::test::shell_quote(regionlm::test::python()) + " " +
      regionlm::test::shell_quote((regionlm::test::source_dir() / "tests/server/browser_check.py").string()) +
      " http://127.0.0.1:" + std::to_string(server.port()) + "/ " + std::to_string(x) + " " + std::to_string(y) + " " +
      regionlm::test::shell_quote(question) + " " + regionlm::test::shell_quote(screenshots.string()) + " 2>&1");
  ASSERT_EQ(code, 0) << output;
  const json page = json::parse(output.substr(output.rfind("\n{") == std::string::npos ? 0 : output.rfind("\n{") + 1));
  std::printf("screenshots: %s-ask.png, %s-everything.png\n", screenshots.c_str(), screenshots.c_str());

  // The click reached the page as a positive point at (x, y), and the overlay is SAM's best mask.
  ASSERT_EQ(page["points"], json({{x, y, 1}}));
  const sam::SamImage sam_image = segmenter.encode(rgb);
  sam::Prompt prompt;
  prompt.points = {{static_cast<double>(x), static_cast<double>(y), 1}};
  const sam::Masks masks = segmenter.predict(sam_image, prompt);
  const cv::Mat best = masks.mask(masks.best());
  EXPECT_EQ(page["rle"]["counts"], rle_encode(best));

  // The streamed answer is the library's.
  const EncodedImage image = model.encode(rgb);
  GenerationOptions options;
  options.max_new_tokens = 128;  // the page's default
  EXPECT_EQ(page["answer_state"], "done") << page.dump();
  EXPECT_EQ(page["answer"], model.describe(image, {Region::from_mask(best)}, question, options).text);

  // Describe everything: one mark per automatic mask, each with the library's description.
  std::vector<Region> regions;
  for (const auto& m : sam::generate_masks(segmenter, rgb)) regions.push_back(m.region());
  ASSERT_FALSE(regions.empty());
  GenerationOptions short_answers;
  short_answers.max_new_tokens = 64;  // the page asks for 64
  const auto expected = model.describe_each(image, regions, prompts::kShortDescription, short_answers);
  EXPECT_EQ(page["marks"], std::to_string(expected.size())) << page.dump();
  EXPECT_EQ(page["masks_drawn"], std::to_string(expected.size()));
  ASSERT_EQ(page["mark_texts"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(page["mark_texts"][i], expected[i].text) << i;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

}  // namespace
