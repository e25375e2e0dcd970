// The example programs against the library: regionlm-describe --json parses and matches
// the library's answers (describe_each for one plain <region>, describe otherwise; masks,
// boxes and RLE JSON), --annotate writes a picture, regionlm-chat works piped, and bad
// inputs exit non-zero with a message naming the problem.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <sstream>

#include "pipeline_test_util.hpp"
#include "regionlm/region/rle.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxNew = 12;

std::string describe_command(const std::vector<std::string>& args) {
  std::string command = shell_quote(REGIONLM_DESCRIBE_BIN);
  for (const auto& a : args) command += " " + shell_quote(a);
  return command;
}

std::vector<std::string> base_args() {
  return {"--model", reference().model.string(), "--image", reference().image.string(), "--device", "cpu",
          "--max-new-tokens", std::to_string(kMaxNew)};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

/// Runs regionlm-describe with --json (stdout only) and parses its output.
nlohmann::json run_json(const std::vector<std::string>& args) {
  const fs::path err = scratch_dir("cli-stderr") / "stderr.txt";
  const auto [code, out] = run_command(describe_command(with(args, {"--json"})) + " 2>" + shell_quote(err.string()));
  EXPECT_EQ(code, 0) << out;
  return nlohmann::json::parse(out);
}

std::vector<int64_t> tokens_of(const nlohmann::json& answer) { return answer.at("tokens").get<std::vector<int64_t>>(); }

TEST(Cli, DefaultPromptDescribesEachRegionLikeTheLibrary) {
  const auto& masks = reference().masks;
  const nlohmann::json out = run_json(with(base_args(), {"--mask", masks[0].string(), "--mask", masks[1].string(),
                                                         "--mask", masks[2].string()}));
  const Model& model = reference_model();
  const auto library = model.describe_each(model.encode(reference().image), reference().regions(nlohmann::json{0, 1, 2}),
                                           prompts::kShortDescription, greedy(kMaxNew));
  ASSERT_EQ(out.at("answers").size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    const auto& answer = out["answers"][r];
    EXPECT_EQ(answer.at("region"), r + 1);
    EXPECT_EQ(tokens_of(answer), library[r].tokens);
    EXPECT_EQ(answer.at("text"), library[r].text);
    EXPECT_EQ(answer.at("stop_reason"), to_string(library[r].stop_reason));
  }
  for (const char* key : {"load_ms", "encode_ms", "prefill_ms", "decode_ms", "total_ms", "generated_tokens"}) {
    EXPECT_TRUE(out.at("timings").contains(key)) << key;
  }
}

TEST(Cli, MultiRegionPromptIsOneDescribeCall) {
  const auto& c = reference().find_case("repeated");  // regions [2, 0], <region1> twice
  const nlohmann::json out =
      run_json(with(base_args(), {"--mask", reference().masks[2].string(), "--mask", reference().masks[0].string(),
                                  "--prompt", c["prompt"]}));
  ASSERT_EQ(out.at("answers").size(), 1u);
  EXPECT_TRUE(out["answers"][0].at("region").is_null());
  EXPECT_EQ(tokens_of(out["answers"][0]), reference().ids("repeated.tokens"));
}

TEST(Cli, BoxesAndRleJsonAreRegionsToo) {
  // The same mask as COCO RLE (compressed string) gives the mask's answer.
  const cv::Mat mask = cv::imread(reference().masks[1].string(), cv::IMREAD_GRAYSCALE) / 255;
  const fs::path rle = scratch_dir("cli-rle") / "regions.json";
  std::ofstream(rle) << nlohmann::json::array({{{"size", {mask.rows, mask.cols}}, {"counts", rle_encode(mask)}}}).dump();
  const nlohmann::json from_rle = run_json(with(base_args(), {"--rle-json", rle.string()}));
  EXPECT_EQ(tokens_of(from_rle["answers"][0]), reference().ids("short1.tokens"));

  // A box matches the library's box region; --box and --rle-json keep command-line order.
  const nlohmann::json mixed = run_json(with(base_args(), {"--box", "50,40,90,66", "--rle-json", rle.string()}));
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  ASSERT_EQ(mixed.at("answers").size(), 2u);
  EXPECT_EQ(tokens_of(mixed["answers"][0]),
            model.describe(image, {Region::from_box(50, 40, 90, 66)}, prompts::kShortDescription, greedy(kMaxNew)).tokens);
  EXPECT_EQ(tokens_of(mixed["answers"][1]), reference().ids("short1.tokens"));
}

TEST(Cli, AnnotateWritesTheOutlinedImage) {
  const fs::path out = scratch_dir("cli-annotate") / "annotated.png";
  const auto [code, text] = run_command(describe_command(with(
      base_args(), {"--mask", reference().masks[0].string(), "--mask", reference().masks[1].string(), "--annotate",
                    out.string()})));
  ASSERT_EQ(code, 0) << text;
  EXPECT_NE(text.find("region 1: "), std::string::npos) << text;
  EXPECT_NE(text.find("annotated image: " + out.string()), std::string::npos) << text;
  const cv::Mat picture = cv::imread(out.string());
  ASSERT_FALSE(picture.empty());
  EXPECT_GE(std::min(picture.rows, picture.cols), 512);  // small scenes are enlarged for legibility
}

TEST(Cli, StreamPrintsTheSameAnswer) {
  const auto [code, text] = run_command(
      describe_command(with(base_args(), {"--mask", reference().masks[0].string(), "--stream"})) + " 2>/dev/null");
  ASSERT_EQ(code, 0);
  EXPECT_EQ(text, reference().find_case("short0")["answer"].get<std::string>() + "\n");
}

void expect_failure(const std::vector<std::string>& args, const std::string& expected_text) {
  const auto [code, text] = run_command(describe_command(args));
  EXPECT_NE(code, 0) << text;
  EXPECT_NE(text.find(expected_text), std::string::npos) << "expected '" << expected_text << "' in:\n" << text;
  EXPECT_EQ(text.find("terminate called"), std::string::npos) << text;  // an error, not a crash
}

TEST(Cli, BadInputsExitNonZeroNamingTheProblem) {
  const fs::path dir = scratch_dir("cli-bad");
  const std::string mask0 = reference().masks[0].string();
  // Missing model directory.
  expect_failure({"--model", "/nonexistent/model", "--image", reference().image.string(), "--mask", mask0},
                 "/nonexistent/model");
  // A mask of another size than the image.
  const fs::path small = dir / "small.png";
  cv::imwrite(small.string(), cv::Mat(10, 10, CV_8UC1, cv::Scalar(255)));
  expect_failure(with(base_args(), {"--mask", small.string()}), "region 0");
  // An unreadable image.
  const fs::path not_image = dir / "not-an-image.png";
  std::ofstream(not_image) << "this is not a PNG";
  expect_failure({"--model", reference().model.string(), "--image", not_image.string(), "--mask", mask0},
                 "not-an-image.png");
  // Placeholders that do not match the regions.
  expect_failure(with(base_args(), {"--mask", mask0, "--prompt", "Is <region1> left of <region2>?"}), "region");
  // Command-line mistakes.
  expect_failure(with(base_args(), {"--mask", mask0, "--max-new-tokens", "many"}), "--max-new-tokens");
  expect_failure(with(base_args(), {"--no-such-flag"}), "--no-such-flag");
  expect_failure({"--image", reference().image.string()}, "--model");
  expect_failure(with(base_args(), {"--box", "1,2,3"}), "--box");
}

TEST(Cli, ChatAnswersPipedQuestionsLikeTheLibrary) {
  const auto& c = reference().find_case("chat");
  const fs::path questions = scratch_dir("cli-chat") / "questions.txt";
  {
    std::ofstream q(questions);
    for (const auto& turn : c["chat"]) q << turn["prompt"].get<std::string>() << "\n";
  }
  std::string command = shell_quote(REGIONLM_CHAT_BIN);
  for (const auto& a : with(base_args(), {"--json"})) command += " " + shell_quote(a);
  for (const auto& r : c["regions"]) command += " --mask " + shell_quote(reference().masks[r.get<size_t>()].string());
  const auto [code, out] = run_command(command + " < " + shell_quote(questions.string()) + " 2>/dev/null");
  ASSERT_EQ(code, 0) << out;
  std::istringstream lines(out);
  std::string line;
  size_t turn = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json answer = nlohmann::json::parse(line);
    EXPECT_EQ(tokens_of(answer), reference().ids("chat.turn" + std::to_string(turn) + ".tokens"));
    ++turn;
  }
  EXPECT_EQ(turn, c["chat"].size());
}

}  // namespace
}  // namespace regionlm::test
