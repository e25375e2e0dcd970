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
#include "regionlm/sam/sam.hpp"
#include "regionlm/vision/image.hpp"
#include "sam_evaluation.hpp"
#include "sam_test_util.hpp"
#include "server_test_util.hpp"
#include "test_util.hpp"

using json = nlohmann::json;
using namespace regionlm;
using namespace regionlm::server::test;

namespace {

/// Runs tests/server/browser_check.py with `arguments`; its JSON report.
json run_page(const std::vector<std::string>& arguments) {
  std::string command = regionlm::test::shell_quote(regionlm::test::python()) + " " +
                        regionlm::test::shell_quote((regionlm::test::source_dir() / "tests/server/browser_check.py").string());
  for (const auto& a : arguments) command += " " + regionlm::test::shell_quote(a);
  const auto [code, output] = regionlm::test::run_command(command + " 2>&1");
  EXPECT_EQ(code, 0) << output;
  const size_t start = output.rfind("\n{");
  const json report = json::parse(output.substr(start == std::string::npos ? 0 : start + 1), nullptr, false);
  EXPECT_FALSE(report.is_discarded()) << output;
  return report;
}

/// The bundled tiny-shapes SAM, served with its generator settings (tiny_automatic_options).
std::filesystem::path sam_location() { return model_dir() / "sam"; }

std::vector<std::string> server_arguments() {
  std::vector<std::string> arguments{"--model", model_dir().string(), "--sam", sam_location().string()};
  for (const std::string& a : regionlm::tiny_shapes::automatic_mask_arguments(regionlm::tiny_shapes::tiny_automatic_options())) {
    arguments.push_back(a);
  }
  return arguments;
}

TEST(ServerBrowser, ClickSegmentAskAndDescribeEverything) {
  const auto sam_dir = sam_location();
  ServerProcess server(server_arguments(), "browser");
  const Model model = Model::load(model_dir());
  const sam::Sam segmenter = sam::Sam::load(sam_dir);
  const cv::Mat rgb = vision::load_image(scene_dir() / "image.png");

  // Click at the centre of the orange triangle (mask_2).
  const cv::Mat triangle = cv::imread((scene_dir() / "mask_2.png").string(), cv::IMREAD_GRAYSCALE);
  const cv::Moments moments = cv::moments(triangle, true);
  const int x = static_cast<int>(moments.m10 / moments.m00), y = static_cast<int>(moments.m01 / moments.m00);
  const std::string question = "What is <region1>?";
  const auto screenshots = regionlm::test::scratch_dir("server-browser") / "page";
  const json page = run_page({"sam", "http://127.0.0.1:" + std::to_string(server.port()) + "/", std::to_string(x),
                              std::to_string(y), question, screenshots.string()});
  ASSERT_TRUE(page.is_object());
  std::printf("screenshots: %s-ask.png, %s-everything.png\n", screenshots.c_str(), screenshots.c_str());

  // The click reached the page as a positive point at (x, y), and the overlay is the mask
  // Sam::best_mask selects (what the click's region will be).
  ASSERT_EQ(page["points"], json({{x, y, 1}}));
  const sam::SamImage sam_image = segmenter.encode(rgb);
  sam::Prompt prompt;
  prompt.points = {{static_cast<double>(x), static_cast<double>(y), 1}};
  const cv::Mat best = segmenter.best_mask(sam_image, prompt).mask(0);
  EXPECT_EQ(page["rle"]["counts"], rle_encode(best));

  // The streamed answer is the library's.
  const EncodedImage image = model.encode(rgb);
  GenerationOptions options;
  options.max_new_tokens = 128;  // the page's default
  EXPECT_EQ(page["answer_state"], "done") << page.dump();
  EXPECT_EQ(page["answer"], model.describe(image, {Region::from_mask(best)}, question, options).text);

  // Describe everything: one mark per region of the server's everything-describe, which
  // Server.api checks against sam::generate_masks + describe_each (here it comes from the
  // server's cache: the page sent the same image bytes).
  auto client = server.client();
  const Reply everything = post(*client, "/v1/regions/describe",
                                {{"image", data_url(read_file(scene_dir() / "image.png"))}, {"everything", true},
                                 {"max_tokens", 64}});  // what the page asks
  ASSERT_EQ(everything.status, 200) << everything.body;
  const json expected = everything.json()["regions"];
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(everything.json()["timings"].value("everything_ms", -1.0), -1.0) << "not from the cache";
  EXPECT_EQ(page["marks"], std::to_string(expected.size())) << page.dump();
  EXPECT_EQ(page["masks_drawn"], std::to_string(expected.size()));
  ASSERT_EQ(page["mark_texts"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(page["mark_texts"][i], expected[i]["text"]) << i;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(ServerBrowser, WithoutSamBoxesAndMaskUploads) {
  ServerProcess server({"--model", model_dir().string()}, "browser-nosam");
  const Model model = Model::load(model_dir());
  const cv::Mat rgb = vision::load_image(scene_dir() / "image.png");
  const std::string question = "Is <region1> left of <region2>?";
  const auto screenshots = regionlm::test::scratch_dir("server-browser-nosam") / "page";
  // Region 1: the orange triangle's mask PNG; region 2: a box dragged around the blue square.
  const json page = run_page({"nosam", "http://127.0.0.1:" + std::to_string(server.port()) + "/", "20", "90", "110",
                              "180", (scene_dir() / "mask_2.png").string(), question, screenshots.string()});
  ASSERT_TRUE(page.is_object());
  std::printf("screenshot: %s-nosam.png\n", screenshots.c_str());
  EXPECT_NE(page["sam_status"].get<std::string>().find("off"), std::string::npos) << page.dump();
  EXPECT_EQ(page["everything_enabled"], false);
  EXPECT_NE(page["click_status"].get<std::string>().find("--sam"), std::string::npos) << page.dump();
  ASSERT_EQ(page["regions"].size(), 2u) << page.dump();
  EXPECT_EQ(page["regions"][0]["mask_png"], regionlm::server::test::data_url(read_file(scene_dir() / "mask_2.png")).substr(22));
  EXPECT_EQ(page["regions"][1]["box"], json({20, 90, 111, 181}));
  const cv::Mat triangle = cv::imread((scene_dir() / "mask_2.png").string(), cv::IMREAD_GRAYSCALE);
  GenerationOptions options;
  options.max_new_tokens = 128;
  EXPECT_EQ(page["answer_state"], "done");
  EXPECT_EQ(page["answer"], model.describe(model.encode(rgb), {Region::from_mask(triangle), Region::from_box(20, 90, 111, 181)},
                                           question, options)
                                .text);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

}  // namespace
