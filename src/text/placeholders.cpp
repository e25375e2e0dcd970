#include "regionlm/text/placeholders.hpp"

#include <algorithm>
#include <string_view>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm::text {
namespace {

constexpr std::string_view kRegion = "<region";
constexpr std::string_view kMask = "<mask>";
constexpr std::string_view kPos = "<pos>";
constexpr std::string_view kPair = "<mask><pos>";

/// If `text` at `pos` is `<regionDIGITS>` or `<region>`, its length and the number (0 for the
/// plain form); otherwise length 0.
size_t match_region(std::string_view text, size_t pos, int64_t& number) {
  if (text.compare(pos, kRegion.size(), kRegion) != 0) return 0;
  size_t end = pos + kRegion.size();
  number = 0;
  const size_t digits_begin = end;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
    if (end - digits_begin >= 9) return 0;  // absurdly long: not a placeholder we read
    number = number * 10 + (text[end] - '0');
    ++end;
  }
  if (end >= text.size() || text[end] != '>') return 0;
  if (end == digits_begin) number = -1;  // plain <region>
  return end + 1 - pos;
}

// The header and the referenced-region table grow with num_regions: bound it first.
void check_region_count(int64_t num_regions, const char* what) {
  if (num_regions > limits::kMaxRegions) {
    throw ArgumentError(std::string(what) + ": " + std::to_string(num_regions) + " regions; at most " +
                        std::to_string(limits::kMaxRegions) + " (limits::kMaxRegions)");
  }
}

std::string plural(int64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::string region_header(int64_t num_regions) {
  if (num_regions < 1) throw ArgumentError("region_header: num_regions must be >= 1, got " + std::to_string(num_regions));
  check_region_count(num_regions, "region_header");
  std::string header = "Ther are " + std::to_string(num_regions) +
                       (num_regions == 1 ? " part region" : " part regions") + " in the picture: ";
  for (int64_t r = 1; r <= num_regions; ++r) {
    if (r > 1) header += ",";
    header += "region" + std::to_string(r) + "<region" + std::to_string(r) + ">";
  }
  return header + ". ";
}

ExpandedPrompt expand_region_placeholders(const std::string& prompt, int64_t num_regions) {
  return expand_region_placeholders(prompt, num_regions, true);
}

ExpandedPrompt expand_region_placeholders(const std::string& prompt, int64_t num_regions,
                                          bool require_all_referenced) {
  if (num_regions < 0) {
    throw ArgumentError("num_regions must be >= 0, got " + std::to_string(num_regions));
  }
  check_region_count(num_regions, "expand_region_placeholders");
  ExpandedPrompt out;
  const std::string_view text(prompt);
  std::string first_sequential, first_numbered;  // spellings seen, for the mixing error
  int64_t sequential = 0;                        // sequential placeholders so far
  size_t copied = 0;                             // text[copied, pos) not yet copied to out
  auto emit_pair = [&](size_t pos, size_t len, int64_t region) {
    out.text.append(text.substr(copied, pos - copied));
    out.text.append(kPair);
    out.region_order.push_back(region);
    copied = pos + len;
  };
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] != '<') {
      ++pos;
      continue;
    }
    int64_t number = 0;
    size_t len = match_region(text, pos, number);
    const bool pair = len == 0 && text.compare(pos, kPair.size(), kPair) == 0;
    if (pair) len = kPair.size();
    if (len == 0) {
      if (text.compare(pos, kMask.size(), kMask) == 0) {
        throw ArgumentError("\"<mask>\" at byte " + std::to_string(pos) +
                            " is not followed by \"<pos>\": Osprey's region placeholder is the "
                            "pair \"<mask><pos>\" (or write <region> / <regionN>)");
      }
      if (text.compare(pos, kPos.size(), kPos) == 0) {
        throw ArgumentError("\"<pos>\" at byte " + std::to_string(pos) +
                            " has no \"<mask>\" before it: Osprey's region placeholder is the "
                            "pair \"<mask><pos>\" (or write <region> / <regionN>)");
      }
      ++pos;
      continue;
    }
    const std::string spelling(text.substr(pos, len));
    if (pair || number < 0) {  // sequential: <region> or <mask><pos>
      if (!first_numbered.empty()) {
        throw ArgumentError("prompt mixes " + first_numbered + " and " + spelling +
                            ": use either numbered placeholders (<region1>, <region2>, ...) or "
                            "sequential ones (<region> / <mask><pos>), not both");
      }
      if (first_sequential.empty()) first_sequential = spelling;
      if (sequential >= num_regions) {
        throw ArgumentError("prompt has more region placeholders than regions: " + spelling +
                            " number " + std::to_string(sequential + 1) + " but only " +
                            plural(num_regions, "region") + " given");
      }
      emit_pair(pos, len, sequential++);
    } else {
      if (!first_sequential.empty()) {
        throw ArgumentError("prompt mixes " + first_sequential + " and " + spelling +
                            ": use either numbered placeholders (<region1>, <region2>, ...) or "
                            "sequential ones (<region> / <mask><pos>), not both");
      }
      if (first_numbered.empty()) first_numbered = spelling;
      if (number == 0) {
        throw ArgumentError(spelling + ": regions are numbered from 1 (<region1> is the first)");
      }
      if (number > num_regions) {
        throw ArgumentError(spelling + " refers to region " + std::to_string(number) + " but only " +
                            plural(num_regions, "region") + " given");
      }
      emit_pair(pos, len, number - 1);
    }
    pos += len;
  }
  out.text.append(text.substr(copied));
  if (require_all_referenced) check_all_regions_referenced(out.region_order, num_regions);
  return out;
}

void check_all_regions_referenced(const std::vector<int64_t>& referenced, int64_t num_regions) {
  check_region_count(num_regions, "check_all_regions_referenced");
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(num_regions, 0)), false);
  for (int64_t r : referenced) {
    if (r >= 0 && r < num_regions) seen[static_cast<size_t>(r)] = true;
  }
  std::string missing;
  int64_t count = 0;
  for (int64_t r = 0; r < num_regions; ++r) {
    if (seen[static_cast<size_t>(r)]) continue;
    missing += (missing.empty() ? "" : ", ") + std::to_string(r + 1);
    ++count;
  }
  if (count == 0) return;
  throw ArgumentError(std::string(count == 1 ? "region " : "regions ") + missing + " of " +
                      std::to_string(num_regions) + (count == 1 ? " is" : " are") +
                      " never referenced in the prompt: every region needs a placeholder "
                      "(<region> in order, or <regionN>)");
}

}  // namespace regionlm::text
