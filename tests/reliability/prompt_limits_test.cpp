// Prompt text (limits::kMaxPromptBytes) and region counts (limits::kMaxRegions) in the text
// layer, checked before any per-region or per-byte allocation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/text/placeholders.hpp"
#include "regionlm/text/sequence.hpp"

namespace {

using regionlm::ArgumentError;
namespace limits = regionlm::limits;
namespace text = regionlm::text;

TEST(PromptLimits, PromptBytesAreCountedOverAllTurns) {
  const std::string half(limits::kMaxPromptBytes / 2, 'a');
  EXPECT_NO_THROW(text::check_prompt_bytes({{half, ""}}, half, "prompt"));
  EXPECT_THROW(text::check_prompt_bytes({{half, "b"}}, half, "prompt"), ArgumentError);
  try {
    text::check_prompt_bytes({}, std::string(limits::kMaxPromptBytes + 1, 'q'), "prompt");
    FAIL() << "no error";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("prompt text is 1048577 bytes; at most 1048576 (limits::kMaxPromptBytes)"),
              std::string::npos)
        << e.what();
  }
}

TEST(PromptLimits, RegionCountIsBoundedBeforeTheHeaderOrTablesGrow) {
  // 10^12 regions would be a 125 GB table of referenced regions, and a header of terabytes.
  EXPECT_THROW(text::check_all_regions_referenced({}, 1'000'000'000'000), ArgumentError);
  EXPECT_THROW(text::region_header(1'000'000'000'000), ArgumentError);
  EXPECT_THROW(text::expand_region_placeholders("<region1>", 1'000'000'000'000), ArgumentError);
  EXPECT_THROW(text::expand_region_placeholders("<region1>", limits::kMaxRegions + 1, false), ArgumentError);
  const auto at_limit = text::expand_region_placeholders("<region256> and <region1>", limits::kMaxRegions, false);
  EXPECT_EQ(at_limit.region_order, (std::vector<int64_t>{255, 0}));
  EXPECT_NO_THROW(text::region_header(limits::kMaxRegions));
}

}  // namespace
