// Model behaviour on the reference checkpoint: encoded-image reuse, describe_each vs
// describe, chat state (turn 2 == fresh prefill of the whole conversation, without
// re-prefilling turn 1), threads, and argument errors.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <thread>

#include "pipeline_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/text/placeholders.hpp"
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

TEST(Model, MaxNewTokensBeyondTheContextIsClampedNotOverflowed) {
  // The KV cache was sized prompt_length + max_new_tokens: INT64_MAX overflowed (UB) into a
  // negative capacity. Both limits below exceed the context, so both stop where it ends.
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const std::vector<Region> region{three_regions()[0]};
  const Answer huge = model.describe(image, region, prompts::kShortDescription, greedy(INT64_MAX));
  const Answer large = model.describe(image, region, prompts::kShortDescription, greedy(1 << 20));
  EXPECT_EQ(huge.tokens, large.tokens);
  EXPECT_EQ(huge.stop_reason, large.stop_reason);
  const auto each = model.describe_each(image, region, prompts::kShortDescription, greedy(INT64_MAX));
  EXPECT_EQ(each.at(0).tokens, large.tokens);
  ChatSession a = model.chat(image, region), b = model.chat(image, region);
  EXPECT_EQ(a.ask(prompts::kShortDescription, greedy(INT64_MAX)).tokens,
            b.ask(prompts::kShortDescription, greedy(1 << 20)).tokens);
}

TEST(Model, DescribeEachRejectsEmptyRegionsAndMultiRegionPrompts) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  EXPECT_THROW(model.describe_each(image, {}, prompts::kShortDescription), ArgumentError);
  // Two different regions in one prompt is not a per-region question.
  EXPECT_THROW(model.describe_each(image, three_regions(), "Is <region1> left of <region2>?"), ArgumentError);
}

/// Greedy answer of a whole conversation prefilled from scratch (no cache reuse).
std::vector<int64_t> fresh_conversation_answer(const Model& model, const EncodedImage& image,
                                               const std::vector<Region>& regions,
                                               const std::vector<text::Turn>& history, const std::string& question,
                                               int64_t* prompt_length) {
  const auto layout = model.layout(question, static_cast<int64_t>(regions.size()), history);
  *prompt_length = layout.length;
  const RegionTokens tokens = model.encode_regions(image, regions);
  return model.generate(layout, model.embed(layout, image, tokens), greedy(kMaxNew)).front().tokens;
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
  // A placeholder naming a region that does not exist is refused before anything changes.
  EXPECT_THROW(session.ask("What is <region3>?", greedy(2)), ArgumentError);
  EXPECT_TRUE(session.history().empty());
  const Answer a1 = session.ask("Is <region1> left of <region2>?", greedy(kMaxNew));
  EXPECT_THROW(session.ask("What is <region3>?", greedy(2)), ArgumentError);
  EXPECT_EQ(session.history().size(), 1u);

  // reset() starts over: the same first question gives the same answer.
  session.reset();
  EXPECT_TRUE(session.history().empty());
  EXPECT_EQ(session.cached_positions(), 0);
  EXPECT_EQ(session.ask("Is <region1> left of <region2>?", greedy(kMaxNew)).tokens, a1.tokens);
}

// Any region in any turn: regions the first question leaves unmentioned are introduced by
// Osprey's header, exactly as if the user had written it.
TEST(Model, UnmentionedRegionsAreIntroducedWithOspreysHeader) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const auto regions = reference().regions(nlohmann::json{0, 1, 2});
  const std::string question = "What is in <region2>? Using a short phrase.";
  const Answer introduced = model.describe(image, regions, question, greedy(kMaxNew));
  const Answer written = model.describe(image, regions, text::region_header(3) + question, greedy(kMaxNew));
  EXPECT_EQ(introduced.tokens, written.tokens);
  EXPECT_EQ(introduced.timings.prompt_tokens, written.timings.prompt_tokens);
  EXPECT_EQ(model.layout(question, 3).length, model.layout(text::region_header(3) + question, 3).length);

  // A chat asks about one region per turn; each turn equals a fresh prefill of the whole
  // conversation with the header written out in the first question.
  ChatSession session = model.chat(image, regions);
  std::vector<text::Turn> written_history;
  for (const std::string q : {"What is in <region1>? Using a short phrase.", "What is in <region3>? Using a short phrase.",
                              "And <region2>?"}) {
    int64_t length = 0;
    const auto expected = fresh_conversation_answer(model, image, regions, written_history,
                                                    written_history.empty() ? text::region_header(3) + q : q, &length);
    const Answer answer = session.ask(q, greedy(kMaxNew));
    EXPECT_EQ(answer.tokens, expected) << q;
    written_history.push_back({written_history.empty() ? text::region_header(3) + q : q, session.history().back().assistant});
  }
}

// Questions about one EncodedImage reuse its system-text + image prefix (computed at the first
// question); answers equal those of a model that prefills every prompt whole.
TEST(Model, ImagePrefixReuseGivesTheAnswersOfFullPrefills) {
  const Model& model = reference_model();  // reuse_image_prefix defaults to true
  LoadOptions options = cpu();
  options.reuse_image_prefix = false;
  const Model whole = Model::load(reference().model, options);
  const EncodedImage reused = model.encode(reference().image);
  const EncodedImage plain = whole.encode(reference().image);
  for (const auto& c : reference().cases) {
    if (c.contains("chat")) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto regions = reference().regions(c["regions"]);
    const Answer a = model.describe(reused, regions, c["prompt"], greedy(kMaxNew));
    const Answer b = whole.describe(plain, regions, c["prompt"], greedy(kMaxNew));
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.timings.prompt_tokens, b.timings.prompt_tokens);
    EXPECT_EQ(a.tokens, reference().ids(c["name"].get<std::string>() + ".tokens"));
  }
}

// describe_each and chats continue the same per-image prefix (read, not copied): their
// answers equal those of a model that prefills every prompt whole, whichever call made it.
TEST(Model, DescribeEachAndChatReuseTheImagePrefix) {
  const Model& model = reference_model();
  LoadOptions options = cpu();
  options.reuse_image_prefix = false;
  const Model whole = Model::load(reference().model, options);
  const EncodedImage reused = model.encode(reference().image);
  const EncodedImage plain = whole.encode(reference().image);
  const auto regions = reference().regions(nlohmann::json::array({0, 1, 2}));
  // describe_each first (it makes the prefix), then a chat that finds it made.
  const auto a = model.describe_each(reused, regions, "What is <region>?", greedy(kMaxNew));
  const auto b = whole.describe_each(plain, regions, "What is <region>?", greedy(kMaxNew));
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].tokens, b[k].tokens) << "region " << k;
    EXPECT_EQ(a[k].timings.prompt_tokens, b[k].timings.prompt_tokens) << "region " << k;
  }
  ChatSession x = model.chat(reused, regions);
  ChatSession y = whole.chat(plain, regions);
  for (const char* q : {"What is <region2>?", "And <region1>?", "Is <region3> left of <region1>?"}) {
    EXPECT_EQ(x.ask(q, greedy(kMaxNew)).tokens, y.ask(q, greedy(kMaxNew)).tokens) << q;
    EXPECT_EQ(x.cached_positions(), y.cached_positions()) << q;
  }
  x.reset();
  y.reset();
  EXPECT_EQ(x.ask("What is <region1>?", greedy(kMaxNew)).tokens, y.ask("What is <region1>?", greedy(kMaxNew)).tokens);
}

TEST(Model, StrictRegionsRefuseUnmentionedRegions) {
  LoadOptions options = cpu();
  options.strict_regions = true;
  const Model strict = Model::load(reference().model, options);
  const EncodedImage image = strict.encode(reference().image);
  const auto regions = three_regions();
  try {
    strict.describe(image, regions, prompts::kShortDescription, greedy(2));
    ADD_FAILURE() << "strict_regions accepted a prompt naming 1 of 3 regions";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("regions 2, 3 of 3 are never referenced"), std::string::npos) << e.what();
  }
  ChatSession session = strict.chat(image, {regions[0], regions[1]});
  EXPECT_THROW(session.ask("What is <region1>?", greedy(2)), ArgumentError);
  EXPECT_NO_THROW(session.ask("Is <region1> left of <region2>?", greedy(2)));
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

// describe_each and chat turns from many threads on one Model (no batching) and one fresh
// EncodedImage, whose shared image prefix the first thread to get there makes while the
// others wait for it, give the answers of the same calls made one after another.
TEST(Model, DescribeEachAndChatFromManyThreadsMatchSequentialOnes) {
  const Model& model = reference_model();
  const auto regions = three_regions();
  const std::vector<std::string> chat = {"What is <region2>?", "And <region1>?"};
  using Tokens = std::vector<std::vector<int64_t>>;
  const auto run = [&](const EncodedImage& image, int which) {  // even: describe_each, odd: a chat
    Tokens out;
    if (which % 2 == 0) {
      for (const Answer& a : model.describe_each(image, regions, prompts::kShortDescription, greedy(kMaxNew))) {
        out.push_back(a.tokens);
      }
    } else {
      ChatSession session = model.chat(image, regions);
      for (const auto& q : chat) out.push_back(session.ask(q, greedy(kMaxNew)).tokens);
    }
    return out;
  };
  constexpr int kThreads = 6;
  std::vector<Tokens> sequential, concurrent(kThreads);
  const EncodedImage image = model.encode(reference().image);
  for (int i = 0; i < kThreads; ++i) sequential.push_back(run(image, i));
  const EncodedImage fresh = model.encode(reference().image);  // no image prefix yet
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&, i] { concurrent[i] = run(fresh, i); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(concurrent, sequential);
}

// LoadOptions::batch_rows: describes about two images (one of them flipped) and two 3-turn
// chats, all from their own threads at once, share decode steps and give exactly the tokens
// and cache lengths of the same calls made one after another on a model without batching.
TEST(Model, BatchedCallsFromManyThreadsEqualSequentialOnes) {
  const Model& plain = reference_model();
  LoadOptions options = cpu();
  options.batch_rows = 8;
  const Model batched = Model::load(reference().model, options);
  cv::Mat flipped;
  cv::flip(cv::imread(reference().image.string(), cv::IMREAD_COLOR), flipped, 1);
  cv::cvtColor(flipped, flipped, cv::COLOR_BGR2RGB);
  const std::vector<EncodedImage> plain_images = {plain.encode(reference().image), plain.encode(flipped)};
  const std::vector<EncodedImage> batched_images = {batched.encode(reference().image), batched.encode(flipped)};
  std::vector<nlohmann::json> cases;
  for (const auto& c : reference().cases) {
    if (!c.contains("chat")) cases.push_back(c);
  }
  const std::vector<std::string> chat = {"What is <region2>?", "And <region1>?", "Is <region1> left of <region2>?"};
  using Tokens = std::vector<std::vector<int64_t>>;
  const auto run_chat = [&](const Model& model, const EncodedImage& image, std::vector<int64_t>* lengths) {
    ChatSession session = model.chat(image, three_regions());
    Tokens out;
    for (const auto& q : chat) {
      out.push_back(session.ask(q, greedy(kMaxNew)).tokens);
      lengths->push_back(session.cached_positions());
    }
    return out;
  };
  Tokens expected;
  for (size_t i = 0; i < 2; ++i) {
    for (const auto& c : cases) {
      expected.push_back(
          plain.describe(plain_images[i], reference().regions(c["regions"]), c["prompt"], greedy(kMaxNew)).tokens);
    }
  }
  std::vector<int64_t> expected_lengths[2];
  const Tokens expected_chats[2] = {run_chat(plain, plain_images[0], &expected_lengths[0]),
                                    run_chat(plain, plain_images[1], &expected_lengths[1])};

  Tokens got(expected.size());
  std::vector<int64_t> got_lengths[2];
  Tokens got_chats[2];
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 2; ++i) {
    for (size_t k = 0; k < cases.size(); ++k) {
      threads.emplace_back([&, i, k] {
        got[i * cases.size() + k] =
            batched.describe(batched_images[i], reference().regions(cases[k]["regions"]), cases[k]["prompt"],
                             greedy(kMaxNew))
                .tokens;
      });
    }
    threads.emplace_back([&, i] { got_chats[i] = run_chat(batched, batched_images[i], &got_lengths[i]); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(got, expected);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got_chats[i], expected_chats[i]) << "chat " << i;
    EXPECT_EQ(got_lengths[i], expected_lengths[i]) << "chat " << i;
  }
  const llm::BatcherStats stats = batched.batch_stats();
  EXPECT_EQ(stats.requests, static_cast<int64_t>(expected.size() + 2 * chat.size()));
  EXPECT_GT(stats.row_steps, stats.steps) << "no decode step held more than one row";
  EXPECT_LE(stats.largest_step, 8);
  EXPECT_EQ(plain.batch_stats().requests, 0);
}

TEST(Model, StreamingPiecesConcatenateToTheAnswer) {
  const Model& model = reference_model();
  std::string streamed;
  GenerationOptions options = greedy(kMaxNew);
  options.on_step = [&](const Step& step) {
    EXPECT_EQ(step.row, 0);
    streamed += step.piece;
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
