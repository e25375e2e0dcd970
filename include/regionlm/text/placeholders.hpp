#pragma once
// Region placeholders in user text: where each region's mask and position tokens go.
#include <cstdint>
#include <string>
#include <vector>

namespace regionlm::text {

/// A user message with its placeholders rewritten to Osprey's `<mask><pos>` pairs.
struct ExpandedPrompt {
  std::string text;                   // every placeholder replaced by "<mask><pos>"
  std::vector<int64_t> region_order;  // per pair, in text order: the 0-based region it stands for
};

/// Rewrites the region placeholders of one user message to `<mask><pos>` pairs:
///  - `<region>`: the next region in order (1st occurrence = region 1, 2nd = region 2, ...);
///  - `<region1>` ... `<regionN>`: that region (1-based), any order, may repeat;
///  - `<mask><pos>`: Osprey's own spelling, same meaning as `<region>` (shares its counter).
/// Everything else, white space around placeholders included, is kept verbatim.
/// Throws ArgumentError, naming the placeholder / region, for: num_regions above
/// limits::kMaxRegions, a numbered placeholder beyond
/// `num_regions` (or `<region0>`), the sequential and numbered forms mixed in one message,
/// more sequential placeholders than regions, a `<mask>` not followed by `<pos>` or a `<pos>`
/// without `<mask>`, and regions never referenced.
ExpandedPrompt expand_region_placeholders(const std::string& prompt, int64_t num_regions);

/// As above; `require_all_referenced = false` skips the "region never referenced" check, for
/// a message that is one turn of a conversation (its other turns may reference the rest).
ExpandedPrompt expand_region_placeholders(const std::string& prompt, int64_t num_regions,
                                          bool require_all_referenced);

/// Osprey's introduction of every region, as its training conversations open (wording, typo
/// and spacing as in its data), with numbered placeholders that splice each region:
///   1 region:  "Ther are 1 part region in the picture: region1<region1>. "
///   N regions: "Ther are N part regions in the picture: region1<region1>,region2<region2>. "
/// ArgumentError for num_regions < 1.
std::string region_header(int64_t num_regions);

/// Throws ArgumentError naming the regions of [0, num_regions) absent from `referenced`
/// ("region 2 of 3 is never referenced ...").
void check_all_regions_referenced(const std::vector<int64_t>& referenced, int64_t num_regions);

}  // namespace regionlm::text
