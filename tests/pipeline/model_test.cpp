// Model behaviour on the reference checkpoint: encoded-image reuse, describe_each vs
// describe, chat state (turn 2 == fresh prefill of the whole conversation, without
// re-prefilling turn 1), threads, and argument errors.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <thread>

#include "pipeline/inference.hpp"
#include "pipeline_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/text/sequence.hpp"

namespace regionlm::test {
namespace {

constexpr int64_t kMaxNew = 12;

std::vector<Region> three_regions() { return reference().regions(nlohmann::json{0, 1, 2}); }

TEST(Model, EncodedImageIsReusableAndEqualsFreshEncoding) {
  const Model& model = reference_model();
  const EncodedImage once = model.encode(reference().image);
  const EncodedImage again = model.encode(reference().image);
  ASSERT_EQ(once.features().size(), 4u);
  for (size_t i = 0; i < once.features().size(); ++i) EXPECT_TRUE(torch::equal(once.features()[i], again.features()[i]));
  EXPECT_TRUE(torch::equal(once.image_tokens(), again.image_tokens()));
  EXPECT_EQ(once.height(), 72);
  EXPECT_EQ(once.width(), 96);

  const auto regions = three_regions();
  const std::string prompt = reference().find_case("three_regions")["prompt"];
  const Answer fresh = model.describe(reference().image, regions, prompt, greedy(kMaxNew));
  const Answer reused1 = model.describe(once, regions, prompt, greedy(kMaxNew));
  const Answer reused2 = model.describe(once, {regions[1]}, prompts::kShortDescription, greedy(kMaxNew));
  const Answer reused3 = model.describe(once, regions, prompt, greedy(kMaxNew));
  EXPECT_EQ(reused1.tokens, fresh.tokens);
  EXPECT_EQ(reused3.tokens, fresh.tokens);
  EXPECT_EQ(reused2.tokens, reference().ids("short1.tokens"));
  EXPECT_EQ(reused1.encode_ms, 0.0);  // no vision work for a pre-encoded image
}

TEST(Model, EncodeFromMatEqualsEncodeFromPath) {
  const Model& model = reference_model();
  cv::Mat rgb;
  cv::cvtColor(cv::imread(reference().image.string(), cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
  const EncodedImage from_mat = model.encode(rgb);
  const EncodedImage from_path = model.encode(reference().image);
  EXPECT_TRUE(torch::equal(from_mat.image_tokens(), from_path.image_tokens()));
}

TEST(Model, DescribeEachEqualsDescribePerRegion) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = three_regions();
  const std::vector<Answer> each = model.describe_each(image, regions, prompts::kShortDescription, greedy(kMaxNew));
  ASSERT_EQ(each.size(), regions.size());
  for (size_t r = 0; r < regions.size(); ++r) {
    SCOPED_TRACE("region " + std::to_string(r));
    const Answer single = model.describe(image, {regions[r]}, prompts::kShortDescription, greedy(kMaxNew));
    EXPECT_EQ(each[r].tokens, single.tokens);
    EXPECT_EQ(each[r].text, single.text);
    EXPECT_EQ(each[r].stop_reason, single.stop_reason);
    EXPECT_EQ(each[r].tokens, reference().ids("short" + std::to_string(r) + ".tokens"));
    // The shared prefix counts in every row's prompt.
    EXPECT_EQ(each[r].timings.prompt_tokens, single.timings.prompt_tokens);
  }
}

TEST(Model, DescribeEachRejectsEmptyRegionsAndPerTokenCallback) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  EXPECT_THROW(model.describe_each(image, {}, prompts::kShortDescription), ArgumentError);
  GenerationOptions options = greedy(2);
  options.on_token = [](const std::string&) { return true; };
  EXPECT_THROW(model.describe_each(image, three_regions(), prompts::kShortDescription, options), ArgumentError);
  // Two different regions in one prompt is not a per-region question.
  EXPECT_THROW(model.describe_each(image, three_regions(), "Is <region1> left of <region2>?"), ArgumentError);
}

/// Greedy answer of a whole conversation prefilled from scratch (no cache reuse).
std::vector<int64_t> fresh_conversation_answer(const Model& model, const EncodedImage& image,
                                               const std::vector<Region>& regions,
                                               const std::vector<text::Turn>& history, const std::string& question,
                                               int64_t* prompt_length) {
  c10::InferenceMode guard;
  const auto& impl = impl_of(model);
  const auto& data = pipeline::Access::data(image, impl);
  const auto layout = text::build_prompt(impl.tokenizer, impl.conversation, history, question,
                                         static_cast<int64_t>(regions.size()), data.image_tokens.size(0),
                                         pipeline::max_prompt_length(impl));
  *prompt_length = layout.length;
  const auto tokens = pipeline::encode_regions(impl, data, regions);
  llm::KVCache cache(impl.config.text, 1, layout.length + kMaxNew, impl.options());
  return llm::generate(impl.llama, cache, pipeline::embed_layout(impl, layout, data, tokens), greedy(kMaxNew),
                       pipeline::decode_fn(impl), impl.tokenizer.eos_id())
      .tokens;
}

TEST(Model, ChatTurnTwoEqualsFreshPrefillWithoutReprefillingTurnOne) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = reference().regions(nlohmann::json{0, 1});
  ChatSession session = model.chat(image, regions);

  const std::string q1 = "Is <region1> left of <region2>?";
  const std::string q2 = "What is in <region2>? Using a short phrase.";
  const std::string q3 = "And what else?";  // a follow-up without placeholders
  const Answer a1 = session.ask(q1, greedy(kMaxNew));
  const int64_t cached_after_turn1 = session.cached_positions();
  EXPECT_EQ(cached_after_turn1, a1.timings.prompt_tokens + static_cast<int64_t>(a1.tokens.size()));

  int64_t length2 = 0;
  const auto expected2 = fresh_conversation_answer(model, image, regions, session.history(), q2, &length2);
  const Answer a2 = session.ask(q2, greedy(kMaxNew));
  EXPECT_EQ(a2.tokens, expected2);
  // Turn 1's prompt was not prefilled again.
  EXPECT_LE(a2.timings.prompt_tokens, length2 - a1.timings.prompt_tokens);

  int64_t length3 = 0;
  const auto expected3 = fresh_conversation_answer(model, image, regions, session.history(), q3, &length3);
  const Answer a3 = session.ask(q3, greedy(kMaxNew));
  EXPECT_EQ(a3.tokens, expected3);
  EXPECT_EQ(session.history().size(), 3u);
  EXPECT_EQ(session.history()[1].user, q2);
}

TEST(Model, ChatRejectsBadQuestionsAndStaysUsable) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = reference().regions(nlohmann::json{0, 1});
  ChatSession session = model.chat(image, regions);
  // The first question must reference every region.
  EXPECT_THROW(session.ask("What is <region1>?", greedy(2)), ArgumentError);
  const Answer a1 = session.ask("Is <region1> left of <region2>?", greedy(kMaxNew));
  EXPECT_THROW(session.ask("What is <region3>?", greedy(2)), ArgumentError);
  EXPECT_EQ(session.history().size(), 1u);

  // reset() starts over: the same first question gives the same answer.
  session.reset();
  EXPECT_TRUE(session.history().empty());
  EXPECT_EQ(session.cached_positions(), 0);
  EXPECT_EQ(session.ask("Is <region1> left of <region2>?", greedy(kMaxNew)).tokens, a1.tokens);
}

TEST(Model, ChatGrowsItsCacheForLongConversations) {
  // A first turn with a 1-token budget makes a small cache; later turns must grow it and
  // still equal a fresh prefill.
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = reference().regions(nlohmann::json{2});
  ChatSession session = model.chat(image, regions);
  session.ask(prompts::kShortDescription, greedy(1));
  int64_t length = 0;
  const auto expected = fresh_conversation_answer(model, image, regions, session.history(),
                                                  prompts::kDetailedDescription, &length);
  EXPECT_EQ(session.ask(prompts::kDetailedDescription, greedy(kMaxNew)).tokens, expected);
}

TEST(Model, ConcurrentCallsOnOneModelMatchSequentialOnes) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  std::vector<nlohmann::json> cases;
  for (const auto& c : reference().cases) {
    if (!c.contains("chat")) cases.push_back(c);
  }
  std::vector<std::vector<int64_t>> sequential, concurrent(cases.size());
  for (const auto& c : cases) {
    sequential.push_back(model.describe(image, reference().regions(c["regions"]), c["prompt"], greedy(kMaxNew)).tokens);
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back([&, i] {
      concurrent[i] = model.describe(image, reference().regions(cases[i]["regions"]), cases[i]["prompt"],
                                     greedy(kMaxNew))
                          .tokens;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(concurrent, sequential);
}

TEST(Model, StreamingPiecesConcatenateToTheAnswer) {
  const Model& model = reference_model();
  std::string streamed;
  GenerationOptions options = greedy(kMaxNew);
  options.on_token = [&](const std::string& piece) {
    streamed += piece;
    return true;
  };
  const Answer answer = model.describe(reference().image, reference().regions(nlohmann::json{0}),
                                       prompts::kShortDescription, options);
  EXPECT_EQ(streamed, answer.text);
}

TEST(Model, ArgumentErrorsNameTheProblem) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = three_regions();
  auto message_of = [](const auto& call) -> std::string {
    try {
      call();
    } catch (const ArgumentError& e) {
      return e.what();
    }
    return "(no ArgumentError)";
  };
  // Placeholders vs regions.
  EXPECT_NE(message_of([&] { model.describe(image, {regions[0]}, "Is <region1> left of <region2>?"); }).find("region"),
            std::string::npos);
  EXPECT_NE(message_of([&] { model.describe(image, regions, prompts::kShortDescription); }).find("never referenced"),
            std::string::npos);
  // A mask of another size than the image.
  const Region small = Region::from_mask(cv::Mat::ones(10, 10, CV_8UC1));
  EXPECT_NE(message_of([&] { model.describe(image, {small}, prompts::kShortDescription); }).find("region 0"),
            std::string::npos);
  // An empty or foreign EncodedImage.
  EXPECT_NE(message_of([&] { model.describe(EncodedImage{}, {regions[0]}, prompts::kShortDescription); }).find("empty"),
            std::string::npos);
  LoadOptions options;
  options.device = "cpu";
  const Model other = Model::load(reference().model, options);
  EXPECT_NE(message_of([&] { other.describe(image, {regions[0]}, prompts::kShortDescription); }).find("another Model"),
            std::string::npos);
  // Unreadable image file.
  EXPECT_THROW(model.encode(reference().dir / "cases.json"), Error);
  EXPECT_THROW(model.encode(reference().dir / "no-such-image.png"), IoError);
}

}  // namespace
}  // namespace regionlm::test
