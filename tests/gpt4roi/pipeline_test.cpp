// End-to-end parity with the Python reference pipeline (CLIPImageProcessor, CLIPVisionModel,
// torchvision roi_align, LlamaForCausalLM, GPT4RoI glue from the spec) on a random GPT4RoI
// checkpoint in the release layout: image tokens, region features, first-step logits, greedy
// answers for 1, 3 and repeated regions, border boxes and a two-turn chat; bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "gpt4roi_reference_data.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/vision/image.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

using gpt4roi::Box;

const gpt4roi::Model& model() {
  static const gpt4roi::Model m = gpt4roi::Model::load(gpt4roi_reference().model);
  return m;
}

const gpt4roi::EncodedImage& scene() {
  static const gpt4roi::EncodedImage image = model().encode(vision::load_image(gpt4roi_reference().image));
  return image;
}

std::vector<Box> boxes_of(const nlohmann::json& c) {
  std::vector<Box> out;
  for (const auto& b : gpt4roi_reference().boxes(c)) out.push_back({b[0], b[1], b[2], b[3]});
  return out;
}

GenerationOptions greedy(int64_t max_new_tokens) {
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  return options;
}

std::string key_of(const nlohmann::json& c, size_t turn) {
  return c.at("turns").size() == 1 ? c.at("name").get<std::string>()
                                   : c.at("name").get<std::string>() + ".turn" + std::to_string(turn);
}

TEST(Gpt4roiPipeline, ReferenceCoversTheCaseKinds) {
  bool one = false, three = false, repeated = false, border = false, chat = false;
  for (const auto& c : gpt4roi_reference().cases()) {
    const std::string first = c.at("turns")[0];
    one = one || c.at("boxes").size() == 1;
    three = three || c.at("boxes").size() == 3;
    repeated = repeated || first.find("<region1>") != first.rfind("<region1>");
    for (const auto& b : gpt4roi_reference().boxes(c)) border = border || b[0] == 0 || b[1] == 0 || b[2] == 200 || b[3] == 150;
    chat = chat || c.at("turns").size() >= 2;
  }
  EXPECT_TRUE(one && three && repeated && border && chat);
}

TEST(Gpt4roiPipeline, EveryCheckpointTensorIsUsed) {
  // LLaMA, mm_projector and spi_module consume the whole checkpoint (inv_freq buffers aside).
  EXPECT_TRUE(model().unused_keys().empty()) << model().unused_keys().front();
}

TEST(Gpt4roiPipeline, VisionTowerIsFoundInTheHubCacheByRepositoryId) {
  // config.json names "openai/clip-vit-large-patch14" as the release does; the tower lies in a
  // hub-cache layout (refs/main -> snapshots/<revision>, files as symlinks), as
  // `huggingface-cli download` leaves it.
  namespace fs = std::filesystem;
  const auto& ref = gpt4roi_reference();
  const fs::path root = scratch_dir("gpt4roi-hub-cache");
  const fs::path repo = root / "hub" / "models--openai--clip-vit-large-patch14";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / "0123abc");
  std::ofstream(repo / "refs" / "main") << "0123abc";
  for (const auto& entry : fs::directory_iterator(ref.clip)) {
    fs::create_symlink(fs::absolute(entry.path()), repo / "snapshots" / "0123abc" / entry.path().filename());
  }
  const fs::path model_dir = root / "model";
  fs::create_directories(model_dir);
  for (const auto& entry : fs::directory_iterator(ref.model)) fs::copy(entry.path(), model_dir / entry.path().filename());
  nlohmann::json config = nlohmann::json::parse(std::ifstream(model_dir / "config.json"));
  config["mm_vision_tower"] = "openai/clip-vit-large-patch14";
  std::ofstream(model_dir / "config.json") << config.dump(2);

  ::setenv("HF_HUB_CACHE", (root / "hub").c_str(), 1);
  const auto loaded = gpt4roi::Model::load(model_dir);
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_TRUE(torch::equal(loaded.encode(vision::load_image(ref.image)).image_tokens, scene().image_tokens));
  ::setenv("HF_HUB_CACHE", (root / "empty").c_str(), 1);
  EXPECT_THROW(gpt4roi::Model::load(model_dir), ConfigError);
  ::unsetenv("HF_HUB_CACHE");
}

TEST(Gpt4roiPipeline, ImageTokensAndRegionFeaturesMatchReference) {
  const auto& ref = gpt4roi_reference();
  const double image_diff = max_abs_diff(scene().image_tokens, ref.tensor("image_tokens"));
  std::cout << "  max |image token - reference| = " << image_diff << "\n";
  EXPECT_LT(image_diff, 1e-4);
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto got = model().region_features(scene(), boxes_of(c));
    const auto expected = ref.tensor(name + ".region_features");
    ASSERT_EQ(got.sizes(), expected.sizes());
    const double diff = max_abs_diff(got, expected);
    std::cout << "  " << name << ": max |region feature - reference| = " << diff << "\n";
    EXPECT_LT(diff, 1e-4 * std::max(1.0, expected.abs().max().item<double>()));
  }
}

TEST(Gpt4roiPipeline, FirstStepLogitsMatchReference) {
  const auto& ref = gpt4roi_reference();
  c10::InferenceMode guard;
  for (const auto& c : ref.cases()) {
    const auto turns = c.at("turns").get<std::vector<std::string>>();
    const auto answers = c.at("answers").get<std::vector<std::string>>();
    const auto features = model().region_features(scene(), boxes_of(c));
    std::vector<text::Turn> history;
    for (size_t k = 0; k < turns.size(); ++k) {
      const std::string key = key_of(c, k);
      SCOPED_TRACE(key);
      const auto layout = model().layout(history, turns[k], features.size(0), turns.size() == 1);
      ASSERT_EQ(layout.ids, ref.ids(key + ".input_ids"));
      const auto embeds = model().embed(layout, scene(), features);  // [1, L, H]
      llm::KVCache cache(model().config().text, 1, layout.length(), embeds.options());
      const auto logits = model().decoder()->forward(embeds, cache, /*last_only=*/true).reshape({-1});
      const auto expected = ref.tensor(key + ".logits0");
      ASSERT_EQ(logits.sizes(), expected.sizes());
      const double diff = max_abs_diff(logits, expected);
      std::cout << "  " << key << ": max |logit - reference| = " << diff << "\n";
      EXPECT_LT(diff, 1e-4);
      history.push_back({turns[k], answers[k]});
    }
  }
}

TEST(Gpt4roiPipeline, GreedyAnswersMatchReference) {
  const auto& ref = gpt4roi_reference();
  int answered = 0;
  for (const auto& c : ref.cases()) {
    if (c.at("turns").size() != 1) continue;
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto answer = model().describe(scene(), boxes_of(c), c.at("turns")[0], greedy(c.at("max_new_tokens")));
    EXPECT_EQ(answer.tokens, ref.ids(name + ".tokens"));
    EXPECT_EQ(answer.text, c.at("answers")[0].get<std::string>());
    std::cout << "  " << name << ": \"" << answer.text << "\"\n";
    ++answered;
  }
  EXPECT_EQ(answered, 4);
}

TEST(Gpt4roiPipeline, TwoTurnChatMatchesReference) {
  const auto& ref = gpt4roi_reference();
  const auto& c = ref.find_case("chat");
  auto session = model().chat(scene(), boxes_of(c));
  const auto turns = c.at("turns").get<std::vector<std::string>>();
  for (size_t k = 0; k < turns.size(); ++k) {
    SCOPED_TRACE(k);
    const int64_t cached_before = session.cached_positions();
    const auto answer = session.ask(turns[k], greedy(c.at("max_new_tokens")));
    EXPECT_EQ(answer.tokens, ref.ids(key_of(c, k) + ".tokens"));
    EXPECT_EQ(answer.text, c.at("answers")[k].get<std::string>());
    if (k > 0) {
      EXPECT_GT(cached_before, 400) << "the second turn should reuse the cached image block";
    }
  }
  EXPECT_EQ(session.history().size(), 2u);
}

TEST(Gpt4roiPipeline, ConcurrentDescribesOnOneModelGiveTheReferenceAnswers) {
  // The model's const methods share weights and keep no state: threads may run them at once.
  const auto& ref = gpt4roi_reference();
  std::vector<nlohmann::json> cases;
  for (const auto& c : ref.cases()) {
    if (c.at("turns").size() == 1) cases.push_back(c);
  }
  std::vector<std::vector<int64_t>> tokens(cases.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back([&, i] {
      tokens[i] = model().describe(scene(), boxes_of(cases[i]), cases[i].at("turns")[0], greedy(12)).tokens;
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(tokens[i], ref.ids(cases[i].at("name").get<std::string>() + ".tokens")) << cases[i].at("name");
  }
}

TEST(Gpt4roiPipeline, DescribeEachEqualsOneDescribePerBox) {
  const auto& c = gpt4roi_reference().find_case("three");
  const auto boxes = boxes_of(c);
  const auto answers = model().describe_each(scene(), boxes, "What is <region>?", greedy(6));
  ASSERT_EQ(answers.size(), boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) {
    EXPECT_EQ(answers[i].tokens, model().describe(scene(), {boxes[i]}, "What is <region1>?", greedy(6)).tokens);
  }
  EXPECT_THROW(model().describe_each(scene(), boxes, "Is <region1> near <region2>?"), ArgumentError);
}

TEST(Gpt4roiPipeline, Bfloat16DecoderRunsWithFloat32RegionBranch) {
  // Every tensor meets its module's dtype: tower, projector and decoder in bfloat16, the region
  // branch in float32. Region features stay within bfloat16's resolution of the reference
  // (relative step 2^-8 per rounding; 5e-2 allows a few roundings through the 10-layer tower).
  const auto& ref = gpt4roi_reference();
  gpt4roi::LoadOptions options;
  options.dtype = torch::kBFloat16;
  const auto bf16 = gpt4roi::Model::load(ref.model, options);
  const auto image = bf16.encode(vision::load_image(ref.image));
  EXPECT_EQ(image.image_tokens.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(image.region_levels[0].scalar_type(), torch::kFloat32);
  const auto& c = ref.find_case("three");
  const auto features = bf16.region_features(image, boxes_of(c));
  EXPECT_EQ(features.scalar_type(), torch::kBFloat16);
  const auto expected = ref.tensor("three.region_features");
  EXPECT_LT(max_abs_diff(features, expected), 5e-2 * expected.abs().max().item<double>());
  const auto answer = bf16.describe(image, boxes_of(c), c.at("turns")[0], greedy(4));
  EXPECT_FALSE(answer.tokens.empty());
}

TEST(Gpt4roiPipeline, MaskRegionsBecomeTheirBoundingBox) {
  cv::Mat mask = cv::Mat::zeros(150, 200, CV_8UC1);
  mask(cv::Rect(30, 40, 50, 20)).setTo(1);  // columns 30..79, rows 40..59
  mask.at<uint8_t>(100, 120) = 1;           // one stray pixel widens the box
  const Box b = gpt4roi::box_of(Region::from_mask(mask), 200, 150);
  EXPECT_EQ(b.x1, 30);
  EXPECT_EQ(b.y1, 40);
  EXPECT_EQ(b.x2, 121);
  EXPECT_EQ(b.y2, 101);
  const Box whole = gpt4roi::box_of(Region::from_box(-10, 20, 50, 60), 200, 150);  // clipped to the image
  EXPECT_EQ(whole.x1, 0);
  EXPECT_EQ(whole.x2, 50);
  EXPECT_EQ(whole.y2, 60);
  EXPECT_THROW(gpt4roi::box_of(Region::from_box(300, 10, 400, 20), 200, 150), ArgumentError);
  // The same answer as giving the box directly.
  const auto& c = gpt4roi_reference().find_case("one");
  // describe_regions: a mask region answers as its box does, and the answer says so.
  cv::Mat box_mask = cv::Mat::zeros(150, 200, CV_8UC1);
  box_mask(cv::Rect(20, 30, 70, 80)).setTo(1);  // case "one"'s box (20, 30, 90, 110)
  const auto noted = model().describe_regions(scene(), {Region::from_mask(box_mask)}, c.at("turns")[0], greedy(12));
  EXPECT_EQ(noted.tokens, gpt4roi_reference().ids("one.tokens"));
  ASSERT_EQ(noted.notes.size(), 1u);
  EXPECT_NE(noted.notes[0].find("bounding box (20, 30, 90, 110)"), std::string::npos) << noted.notes[0];
  EXPECT_TRUE(model().describe_regions(scene(), {Region::from_box(20, 30, 90, 110)}, c.at("turns")[0], greedy(1))
                  .notes.empty());
  const auto direct = model().region_features(scene(), boxes_of(c));
  const auto via_region = model().region_features(
      scene(), {gpt4roi::box_of(Region::from_box(20, 30, 90, 110), scene().width, scene().height)});
  EXPECT_TRUE(torch::equal(direct, via_region));
}

TEST(Gpt4roiPipeline, BadBoxesAndPlaceholdersAreArgumentErrors) {
  const auto options = greedy(2);
  auto expect_argument_error = [&](const std::vector<Box>& boxes, const std::string& prompt, const std::string& needle) {
    try {
      model().describe(scene(), boxes, prompt, options);
      ADD_FAILURE() << "expected ArgumentError for " << prompt;
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_argument_error({{10, 10, 250, 80}}, "What is <region1>?", "box 1");        // right edge beyond 200
  expect_argument_error({{-1, 10, 50, 80}}, "What is <region1>?", "outside");
  expect_argument_error({{10, 10, 10, 80}}, "What is <region1>?", "zero");         // zero width
  expect_argument_error({{30, 40, 10, 80}}, "What is <region1>?", "box 1");        // inverted
  expect_argument_error({{10, 10, 50, 80}}, "Is <region1> near <region2>?", "<region2>");  // more <bbox> than boxes
  expect_argument_error({{10, 10, 50, 80}, {60, 10, 90, 80}}, "What is <region1>?", "region 2");  // unreferenced
  expect_argument_error({{10, 10, 50, 80}}, "What is <bbox>?", "<bbox>");
  EXPECT_THROW(model().chat(scene(), {{0, 0, 0, 0}}), ArgumentError);
}

}  // namespace
}  // namespace regionlm::test
