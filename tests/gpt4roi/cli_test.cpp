// regionlm-gpt4roi on the reference checkpoint: answers equal the Python reference's, a
// conversation on stdin, masks through their bounding box, bad boxes reported.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <sstream>

#include "gpt4roi_reference_data.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

std::string base_command() {
  const auto& ref = gpt4roi_reference();
  return shell_quote(REGIONLM_GPT4ROI_BIN) + " --model " + shell_quote(ref.model.string()) + " --image " +
         shell_quote(ref.image.string()) + " --device cpu --dtype float32 --max-new-tokens 12";
}

std::string box_argument(const std::array<double, 4>& b) {
  std::ostringstream out;
  out << " --box " << b[0] << "," << b[1] << "," << b[2] << "," << b[3];
  return out.str();
}

TEST(Gpt4roiCli, DescribeMatchesReference) {
  const auto& c = gpt4roi_reference().find_case("three");
  std::string command = base_command();
  for (const auto& b : gpt4roi_reference().boxes(c)) command += box_argument(b);
  command += " --prompt " + shell_quote(c.at("turns")[0].get<std::string>()) + " 2>/dev/null";
  const auto [rc, output] = run_command(command);
  ASSERT_EQ(rc, 0) << output;
  EXPECT_EQ(output, c.at("answers")[0].get<std::string>() + "\n");
}

TEST(Gpt4roiCli, ChatReadsOneQuestionPerLine) {
  const auto& c = gpt4roi_reference().find_case("chat");
  const auto turns = c.at("turns").get<std::vector<std::string>>();
  std::string command = "printf '%s\\n%s\\n' " + shell_quote(turns[0]) + " " + shell_quote(turns[1]) + " | " +
                        base_command();
  for (const auto& b : gpt4roi_reference().boxes(c)) command += box_argument(b);
  const auto [rc, output] = run_command(command + " --chat 2>/dev/null");
  ASSERT_EQ(rc, 0) << output;
  EXPECT_EQ(output, c.at("answers")[0].get<std::string>() + "\n" + c.at("answers")[1].get<std::string>() + "\n");
}

TEST(Gpt4roiCli, MaskIsUsedAsItsBoundingBox) {
  const auto dir = scratch_dir("gpt4roi-cli-mask");
  cv::Mat mask = cv::Mat::zeros(150, 200, CV_8UC1);
  mask(cv::Rect(20, 30, 70, 80)).setTo(255);  // the bounding box of case "one": (20, 30, 90, 110)
  cv::circle(mask, {50, 60}, 10, 0, -1);      // a hole does not change the box
  cv::imwrite((dir / "mask.png").string(), mask);
  const auto& c = gpt4roi_reference().find_case("one");
  const auto [rc, output] = run_command(base_command() + " --mask " + shell_quote((dir / "mask.png").string()) +
                                        " --prompt " + shell_quote(c.at("turns")[0].get<std::string>()) + " 2>&1");
  ASSERT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("bounding box (20, 30, 90, 110)"), std::string::npos) << output;
  EXPECT_NE(output.find(c.at("answers")[0].get<std::string>()), std::string::npos) << output;
}

TEST(Gpt4roiCli, BoxOutsideTheImageIsReported) {
  const auto [rc, output] = run_command(base_command() + " --box 10,10,500,80 --prompt 'What is <region1>?' 2>&1");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(output.find("box 1"), std::string::npos) << output;
}

}  // namespace
}  // namespace regionlm::test
