#include "regionlm/text/region_mentions.hpp"

#include <cctype>
#include <string_view>

namespace regionlm::text {

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool starts_with_word(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  }
  return true;
}

}  // namespace

std::vector<RegionMention> find_region_mentions(const std::string& text, int64_t num_regions,
                                                int64_t first_region) {
  constexpr std::string_view kWord = "region";
  constexpr size_t kMaxDigits = 9;  // larger numbers name no region and cannot overflow
  const std::string_view s(text);
  std::vector<RegionMention> out;
  for (size_t at = 0; at < s.size(); ++at) {
    if (!starts_with_word(s, at, kWord) || (at > 0 && is_alnum(s[at - 1]))) continue;
    size_t end = at + kWord.size();
    if (end < s.size() && s[end] == ' ') ++end;  // "region 2"
    const size_t digits = end;
    int64_t number = 0;
    while (end < s.size() && end - digits < kMaxDigits && std::isdigit(static_cast<unsigned char>(s[end]))) {
      number = number * 10 + (s[end] - '0');
      ++end;
    }
    if (end == digits || (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end])))) continue;
    size_t begin = at;
    const bool bracketed = at > 0 && s[at - 1] == '<' && end < s.size() && s[end] == '>' && digits == at + kWord.size();
    if (bracketed) {
      --begin;
      ++end;
    }
    if (number >= 1 && number <= num_regions) {
      out.push_back({begin, end - begin, first_region + number - 1});
    }
    at = end - 1;
  }
  return out;
}

}  // namespace regionlm::text
