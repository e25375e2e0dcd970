// Region placeholders: spellings, region order, and the errors users get.
#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/text/placeholders.hpp"
#include "test_util.hpp"

using regionlm::ArgumentError;
using namespace regionlm::text;

using regionlm::test::error_of;

TEST(Placeholders, SequentialFormTakesRegionsInOrder) {
  const ExpandedPrompt e = expand_region_placeholders("Is <region> left of <region>?", 2);
  EXPECT_EQ(e.text, "Is <mask><pos> left of <mask><pos>?");
  EXPECT_EQ(e.region_order, (std::vector<int64_t>{0, 1}));
}

TEST(Placeholders, NumberedFormMayRepeatInAnyOrder) {
  const ExpandedPrompt e = expand_region_placeholders("is <region2> left of <region1>? and <region2>'s colour?", 2);
  EXPECT_EQ(e.text, "is <mask><pos> left of <mask><pos>? and <mask><pos>'s colour?");
  EXPECT_EQ(e.region_order, (std::vector<int64_t>{1, 0, 1}));
}

TEST(Placeholders, OspreySpellingIsSequential) {
  const std::string osprey = "Ther are 2 part regions in the picture: region1<mask><pos>,region2<mask><pos>. Why?";
  const ExpandedPrompt e = expand_region_placeholders(osprey, 2);
  EXPECT_EQ(e.text, osprey);
  EXPECT_EQ(e.region_order, (std::vector<int64_t>{0, 1}));
  // <region> and <mask><pos> share one counter.
  EXPECT_EQ(expand_region_placeholders("<mask><pos> vs <region>", 2).region_order, (std::vector<int64_t>{0, 1}));
}

TEST(Placeholders, TextAroundPlaceholdersIsKeptVerbatim) {
  const ExpandedPrompt e =
      expand_region_placeholders("  <region1>  ,\n<region10>\t<regions> <region x> <Region1> <region", 10, false);
  EXPECT_EQ(e.text, "  <mask><pos>  ,\n<mask><pos>\t<regions> <region x> <Region1> <region");
  EXPECT_EQ(e.region_order, (std::vector<int64_t>{0, 9}));
  EXPECT_EQ(expand_region_placeholders("no regions here", 0).text, "no regions here");
  EXPECT_TRUE(expand_region_placeholders("", 0).region_order.empty());
}

TEST(Placeholders, IndexBeyondRegions) {
  const std::string msg = error_of<ArgumentError>([] { expand_region_placeholders("<region1> and <region3>", 2); });
  EXPECT_NE(msg.find("<region3>"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only 2 regions"), std::string::npos) << msg;
  EXPECT_NE(error_of<ArgumentError>([] { expand_region_placeholders("<region0>", 1); }).find("numbered from 1"),
            std::string::npos);
}

TEST(Placeholders, MixingFormsIsAnError) {
  const std::string msg = error_of<ArgumentError>([] { expand_region_placeholders("<region1> and <region>", 2); });
  EXPECT_NE(msg.find("mixes <region1> and <region>"), std::string::npos) << msg;
  const std::string osprey =
      error_of<ArgumentError>([] { expand_region_placeholders("<mask><pos> and <region2>", 2); });
  EXPECT_NE(osprey.find("mixes <mask><pos> and <region2>"), std::string::npos) << osprey;
}

TEST(Placeholders, UnreferencedRegionsAreNamed) {
  const std::string one = error_of<ArgumentError>([] { expand_region_placeholders("<region1> and <region3>", 3); });
  EXPECT_NE(one.find("region 2 of 3 is never referenced"), std::string::npos) << one;
  const std::string two = error_of<ArgumentError>([] { expand_region_placeholders("what is <region>?", 3); });
  EXPECT_NE(two.find("regions 2, 3 of 3 are never referenced"), std::string::npos) << two;
  const std::string none = error_of<ArgumentError>([] { expand_region_placeholders("describe the picture", 1); });
  EXPECT_NE(none.find("region 1 of 1"), std::string::npos) << none;
  // A turn of a conversation may leave regions to other turns.
  EXPECT_EQ(expand_region_placeholders("and <region2>?", 3, false).region_order, (std::vector<int64_t>{1}));
  EXPECT_THROW(check_all_regions_referenced({1, 1}, 2), ArgumentError);
  EXPECT_NO_THROW(check_all_regions_referenced({1, 0}, 2));
}

TEST(Placeholders, MorePlaceholdersThanRegions) {
  const std::string msg =
      error_of<ArgumentError>([] { expand_region_placeholders("<region>, <region> and <region>", 2); });
  EXPECT_NE(msg.find("more region placeholders than regions"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only 2 regions"), std::string::npos) << msg;
  EXPECT_THROW(expand_region_placeholders("<mask><pos>", 0), ArgumentError);
}

TEST(Placeholders, UnpairedOspreyTokens) {
  EXPECT_NE(
      error_of<ArgumentError>([] { expand_region_placeholders("a <mask> b", 1); }).find("not followed by \"<pos>\""),
      std::string::npos);
  EXPECT_NE(
      error_of<ArgumentError>([] { expand_region_placeholders("a <pos><mask> b", 1); }).find("no \"<mask>\" before it"),
      std::string::npos);
  EXPECT_THROW(expand_region_placeholders("<mask> <pos>", 1), ArgumentError);
  EXPECT_THROW(expand_region_placeholders("x", -1), ArgumentError);
}

TEST(RegionHeader, SpellsOspreysIntroductionWithNumberedPlaceholders) {
  // Wording, typo ("Ther") and spacing as Osprey's training conversations open.
  EXPECT_EQ(region_header(1), "Ther are 1 part region in the picture: region1<region1>. ");
  EXPECT_EQ(region_header(3),
            "Ther are 3 part regions in the picture: region1<region1>,region2<region2>,region3<region3>. ");
  const ExpandedPrompt expanded = expand_region_placeholders(region_header(2), 2);
  EXPECT_EQ(expanded.text, "Ther are 2 part regions in the picture: region1<mask><pos>,region2<mask><pos>. ");
  EXPECT_EQ(expanded.region_order, (std::vector<int64_t>{0, 1}));
  EXPECT_THROW(region_header(0), regionlm::ArgumentError);
}
