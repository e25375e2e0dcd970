// What every Answer carries besides the text, for both families: the regions its text names
// (Answer::mentions), made in the one place answers are made (pipeline::make_answer).
#include <gtest/gtest.h>

#include "pipeline/inference.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/text/region_mentions.hpp"

namespace regionlm::test {
namespace {

TEST(RegionMentions, AnswersNameInputRegions) {
  const std::string text = "<region2> is left of region1; Region 3 and region4, subregion1, region12.";
  const auto mentions = text::find_region_mentions(text, 3);
  ASSERT_EQ(mentions.size(), 3u);
  EXPECT_EQ(text.substr(mentions[0].offset, mentions[0].length), "<region2>");
  EXPECT_EQ(mentions[0].region, 1);
  EXPECT_EQ(text.substr(mentions[1].offset, mentions[1].length), "region1");
  EXPECT_EQ(mentions[1].region, 0);
  EXPECT_EQ(text.substr(mentions[2].offset, mentions[2].length), "Region 3");
  EXPECT_EQ(mentions[2].region, 2);
  // A describe_each row names its region "region1": it is that row's input region.
  const auto row = text::find_region_mentions("region1 holds a cup", 1, 4);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0].region, 4);
  EXPECT_TRUE(text::find_region_mentions("region2", 1).empty());
}

TEST(RegionMentions, EveryAnswerOfEitherFamilyCarriesThem) {
  // The one place answers are made maps the generated text's mentions, for describe (all
  // regions), describe_each rows (region1 = the row's region) and chat alike.
  llm::GenerationResult result;
  result.text = "region2 is beside <region1>";
  const Answer all = pipeline::make_answer(result, 0.0, 0.0, 2);
  ASSERT_EQ(all.mentions.size(), 2u);
  EXPECT_EQ(all.mentions[0].region, 1);
  EXPECT_EQ(all.mentions[1].region, 0);
  const Answer row = pipeline::make_answer(result, 0.0, 0.0, 1, 3);
  ASSERT_EQ(row.mentions.size(), 1u);  // region2 does not exist in a one-region row
  EXPECT_EQ(row.mentions[0].region, 3);
  EXPECT_EQ(row.text, result.text);
}

}  // namespace
}  // namespace regionlm::test
