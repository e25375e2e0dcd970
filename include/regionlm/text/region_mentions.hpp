#pragma once
// Regions named in generated text ("region2", "<region2>", "region 2"), mapped back to the
// regions of the call that produced it (Answer::mentions).
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/answer.hpp"

namespace regionlm::text {

/// Every mention of region 1 .. num_regions in `text`, in text order: "regionK", "region K"
/// and "<regionK>" (brackets included in the span), case-insensitive, not preceded by a letter
/// or digit ("subregion2" is no mention). Mention K becomes region first_region + K - 1 (a
/// describe_each row names its region "region1": first_region is the row's region). Numbers
/// outside 1 .. num_regions are skipped.
std::vector<RegionMention> find_region_mentions(const std::string& text, int64_t num_regions,
                                                int64_t first_region = 0);

}  // namespace regionlm::text
