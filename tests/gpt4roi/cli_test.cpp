// regionlm-describe and regionlm-chat on the GPT4RoI reference checkpoint (the programs load
// either family): answers equal the Python reference's, the default question is asked of each
// box, a conversation on stdin, a mask through its bounding box (noted), bad boxes reported.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <sstream>

#include "gpt4roi_reference_data.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

std::string common_arguments() {
  const auto& ref = gpt4roi_reference();
  return " --model " + shell_quote(ref.model.string()) + " --image " + shell_quote(ref.image.string()) +
         " --device cpu --dtype float32 --max-new-tokens 12";
}

std::string describe_command() { return shell_quote(REGIONLM_DESCRIBE_BIN) + common_arguments(); }

std::string box_arguments(const nlohmann::json& c) {
  std::ostringstream out;
  for (const auto& b : gpt4roi_reference().boxes(c)) out << " --box " << b[0] << "," << b[1] << "," << b[2] << "," << b[3];
  return out.str();
}

std::string answer_of(const std::string& name, size_t turn = 0) {
  return gpt4roi_reference().find_case(name).at("answers")[turn].get<std::string>();
}

TEST(Gpt4roiCli, DescribeAnswersLikeTheReference) {
  const auto& c = gpt4roi_reference().find_case("three");
  const auto [rc, output] = run_command(describe_command() + box_arguments(c) + " --prompt " +
                                        shell_quote(c.at("turns")[0].get<std::string>()) + " 2>/dev/null");
  ASSERT_EQ(rc, 0) << output;
  EXPECT_EQ(output, answer_of("three") + "\n");
}

TEST(Gpt4roiCli, OnePlainRegionPlaceholderIsAskedOfEveryBox) {
  // Boxes a, b, c: the reference's single-box cases "one", "each_b", "each_c".
  const auto& ref = gpt4roi_reference();
  std::string boxes;
  for (const char* name : {"one", "each_b", "each_c"}) boxes += box_arguments(ref.find_case(name));
  const auto [rc, output] =
      run_command(describe_command() + boxes + " --json --prompt 'What is <region> doing?' 2>/dev/null");
  ASSERT_EQ(rc, 0) << output;
  const auto json = nlohmann::json::parse(output);
  ASSERT_EQ(json.at("answers").size(), 3u);
  int r = 0;
  for (const char* name : {"one", "each_b", "each_c"}) {
    const auto& answer = json["answers"][r++];
    EXPECT_EQ(answer.at("region"), r);
    EXPECT_EQ(answer.at("text"), answer_of(name)) << name;
    EXPECT_EQ(answer.at("tokens").get<std::vector<int64_t>>(), ref.ids(std::string(name) + ".tokens")) << name;
    EXPECT_TRUE(answer.at("notes").empty());
    EXPECT_TRUE(answer.at("mentions").is_array());
  }
}

TEST(Gpt4roiCli, ChatAnswersEachLineInOneConversation) {
  const auto& c = gpt4roi_reference().find_case("chat");
  const auto turns = c.at("turns").get<std::vector<std::string>>();
  const std::string command = "printf '%s\\n%s\\n' " + shell_quote(turns[0]) + " " + shell_quote(turns[1]) + " | " +
                              shell_quote(REGIONLM_CHAT_BIN) + common_arguments() + box_arguments(c) + " 2>/dev/null";
  const auto [rc, output] = run_command(command);
  ASSERT_EQ(rc, 0) << output;
  // Streamed as cleaned: exactly the answers, one per line.
  EXPECT_EQ(output, answer_of("chat", 0) + "\n" + answer_of("chat", 1) + "\n");
}

TEST(Gpt4roiCli, AMaskIsUsedAsItsBoundingBoxAndSaysSo) {
  const auto dir = scratch_dir("gpt4roi-cli-mask");
  cv::Mat mask = cv::Mat::zeros(150, 200, CV_8UC1);
  mask(cv::Rect(20, 30, 70, 80)).setTo(255);  // the bounding box of case "one": (20, 30, 90, 110)
  cv::circle(mask, {50, 60}, 10, 0, -1);      // a hole does not change the box
  cv::imwrite((dir / "mask.png").string(), mask);
  const auto& c = gpt4roi_reference().find_case("one");
  const std::string command = describe_command() + " --mask " + shell_quote((dir / "mask.png").string()) +
                              " --prompt " + shell_quote(c.at("turns")[0].get<std::string>());
  const auto [rc, output] = run_command(command + " 2>&1");
  ASSERT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("note: region 1 (mask 150x200) was used as its bounding box (20, 30, 90, 110)"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find(answer_of("one") + "\n"), std::string::npos) << output;
  const auto [json_rc, json_output] = run_command(command + " --json 2>/dev/null");
  ASSERT_EQ(json_rc, 0) << json_output;
  const auto answer = nlohmann::json::parse(json_output).at("answers").at(0);
  EXPECT_EQ(answer.at("text"), answer_of("one"));
  ASSERT_EQ(answer.at("notes").size(), 1u);
}

TEST(Gpt4roiCli, BoxOutsideTheImageIsReportedByName) {
  const auto [rc, output] = run_command(describe_command() + " --box 10,10,500,80 --prompt 'What is <region1>?' 2>&1");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(output.find("box 1 (10, 10, 500, 80) reaches outside the 200x150 image"), std::string::npos) << output;
}

}  // namespace
}  // namespace regionlm::test
