// GPT4RoI's prompt: token ids equal to the Python tokenizer's (LlamaTokenizerFast loaded from
// the saved tokenizer.json, as GPT4RoI's demo loads it) for every case and chat turn, and the
// placeholder / answer rules.
#include <gtest/gtest.h>

#include <random>

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
  EXPECT_EQ(compared, 8);  // 7 cases, the chat with two turns
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

TEST(Gpt4roiPrompt, StreamedPiecesConcatenateToTheCleanedAnswer) {
  // Any split of a generated text into pieces streams exactly clean_answer(text): texts built
  // from what cleaning acts on ("Assistant:", its beginnings, white space) and ordinary words.
  // (Not covered, as AnswerStream says: a removal that joins "Assist" + "ant:" into a new role.)
  const std::vector<std::string> parts{"Assistant:", "Assistant: ", "Assist", "Ass", "A", " ", "\n", "a dog", "x", "."};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) text += parts[rng() % parts.size()];
    gpt4roi::AnswerStream stream;
    std::string streamed;
    size_t at = 0;
    while (at < text.size()) {
      const size_t len = std::min(text.size() - at, static_cast<size_t>(rng() % 5));
      streamed += stream.push(text.substr(at, len), false);
      at += len;
    }
    streamed += stream.push("", true);
    ASSERT_EQ(streamed, gpt4roi::clean_answer(text)) << "text: \"" << text << "\"";
  }
  // Nothing that may still be removed is released early.
  gpt4roi::AnswerStream stream;
  EXPECT_EQ(stream.push(" Assis", false), "");
  EXPECT_EQ(stream.push("tant: a man", false), "a man");
  EXPECT_EQ(stream.push(" \n", false), "");
  EXPECT_EQ(stream.push("", true), "");
}

TEST(Gpt4roiPrompt, FirstTurnPrefixIsConfigurable) {
  const auto& tok = reference_tokenizer();
  const auto custom = build_prompt(tok, {}, "What is <region1>?", 1, 256, 1024, true, "<image>\nCategory only.\n");
  const auto text = tok.decode(custom.ids, /*skip_special=*/true);
  EXPECT_NE(text.find("Category only."), std::string::npos) << text;
  EXPECT_EQ(text.find("overview"), std::string::npos) << text;
  EXPECT_THROW(build_prompt(tok, {}, "What is <region1>?", 1, 256, 1024, true, "no marker"), ArgumentError);
}

}  // namespace
}  // namespace regionlm::test
