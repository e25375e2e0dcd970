// GPT4RoI's prompt: token ids equal to the Python tokenizer's (LlamaTokenizerFast loaded from
// the saved tokenizer.json, as GPT4RoI's demo loads it) for every case and chat turn, and the
// placeholder / answer rules.
#include <gtest/gtest.h>

#include "gpt4roi_reference_data.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::test {
namespace {

using gpt4roi::build_prompt;

const text::Tokenizer& reference_tokenizer() {
  static const text::Tokenizer tok = text::Tokenizer::load(gpt4roi_reference().model);
  return tok;
}

TEST(Gpt4roiPrompt, AddedTokensFollowTheVocabulary) {
  const auto& tok = reference_tokenizer();
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(tok.token_id(gpt4roi::kAddedTokens[i]), tok.vocab_size() + i) << gpt4roi::kAddedTokens[i];
  }
}

TEST(Gpt4roiPrompt, IdsMatchPythonTokenizerForEveryTurn) {
  const auto& ref = gpt4roi_reference();
  int compared = 0;
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    const auto turns = c.at("turns").get<std::vector<std::string>>();
    const auto answers = c.at("answers").get<std::vector<std::string>>();
    const auto num_regions = static_cast<int64_t>(c.at("boxes").size());
    std::vector<text::Turn> history;
    for (size_t k = 0; k < turns.size(); ++k) {
      const std::string key = turns.size() == 1 ? name : name + ".turn" + std::to_string(k);
      SCOPED_TRACE(key);
      const auto layout = build_prompt(reference_tokenizer(), history, turns[k], num_regions, 256, 1024,
                                       /*require_all_regions=*/turns.size() == 1);
      EXPECT_EQ(layout.ids, ref.ids(key + ".input_ids"));
      EXPECT_EQ(layout.image_tokens, 256);
      if (k + 1 == turns.size()) {
        EXPECT_EQ(layout.bbox_regions, c.at("bbox_order").get<std::vector<int64_t>>());
      }
      history.push_back({turns[k], answers[k]});
      ++compared;
    }
  }
  EXPECT_EQ(compared, 6);
}

TEST(Gpt4roiPrompt, FirstMentionGetsTheBboxToken) {
  std::vector<bool> seen;
  const auto r = gpt4roi::rewrite_question("Is <region2> left of <1>? And <region2>?", 2, seen);
  EXPECT_EQ(r.text, "Is region2 <bbox> left of region1 <bbox>? And region2?");
  EXPECT_EQ(r.new_regions, (std::vector<int64_t>{1, 0}));
  const auto later = gpt4roi::rewrite_question("Why is <region1> there?", 2, seen);
  EXPECT_EQ(later.text, "Why is region1 there?");
  EXPECT_TRUE(later.new_regions.empty());
  std::vector<bool> fresh;
  EXPECT_EQ(gpt4roi::rewrite_question("<region> and <region>", 2, fresh).text, "region1 <bbox> and region2 <bbox>");
}

TEST(Gpt4roiPrompt, BadPlaceholdersAreArgumentErrors) {
  std::vector<bool> seen;
  try {
    gpt4roi::rewrite_question("What is <region3>?", 2, seen);
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("<region3>"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gpt4roi::rewrite_question("What is <region0>?", 2, seen), ArgumentError);
  EXPECT_THROW(gpt4roi::rewrite_question("What is <bbox>?", 2, seen), ArgumentError);  // an unbound <bbox>
  EXPECT_THROW(gpt4roi::rewrite_question("<image> <region1>", 2, seen), ArgumentError);
  EXPECT_THROW(gpt4roi::rewrite_question("<region> and <region2>", 2, seen), ArgumentError);
  EXPECT_THROW(gpt4roi::rewrite_question("<region> <region> <region>", 2, seen), ArgumentError);
  // Every region must have its <bbox> in a single question.
  EXPECT_THROW(build_prompt(reference_tokenizer(), {}, "What is <region1>?", 2, 256, 1024, true), ArgumentError);
  // Too long for the context.
  EXPECT_THROW(build_prompt(reference_tokenizer(), {}, "What is <region1>?", 1, 256, 200, true), ArgumentError);
}

TEST(Gpt4roiPrompt, AnswerIsCleanedAsTheDemoDoes) {
  EXPECT_EQ(gpt4roi::clean_answer(" Assistant: a man riding a horse.\n###"), "a man riding a horse.");
  EXPECT_EQ(gpt4roi::clean_answer("Assistant:region1 is a dog"), "region1 is a dog");
  EXPECT_EQ(gpt4roi::clean_answer("  plain  "), "plain");
}

TEST(Gpt4roiPrompt, RegionMentionsMapBackToInputs) {
  const std::string answer = "A dog at region1 looks at region 2; region9 is not there.";
  const auto mentions = gpt4roi::find_region_mentions(answer, 2);
  ASSERT_EQ(mentions.size(), 2u);
  EXPECT_EQ(mentions[0].region, 0);
  EXPECT_EQ(answer.substr(mentions[0].offset, mentions[0].length), "region1");
  EXPECT_EQ(mentions[1].region, 1);
  EXPECT_EQ(answer.substr(mentions[1].offset, mentions[1].length), "region 2");
}

}  // namespace
}  // namespace regionlm::test
