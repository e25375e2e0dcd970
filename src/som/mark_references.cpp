#include "regionlm/som/mark_references.hpp"

#include <algorithm>
#include <cctype>

#include "regionlm/error.hpp"

namespace regionlm::som {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

}  // namespace

int mark_id(const std::string& raw, MarkStyle style) {
  std::string text = raw;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  if (text.empty() || text.size() > 6) return 0;
  int id = 0;
  if (style == MarkStyle::Numbers) {
    if (!std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) return 0;
    for (char c : text) id = id * 10 + (c - '0');
    return id;
  }
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= 'a' && c <= 'z'; })) return 0;
  for (char c : text) id = id * 26 + (c - 'a' + 1);
  return id;
}

std::vector<int> referenced_marks(const std::string& raw, int count, MarkStyle style) {
  if (count < 0) throw ArgumentError("referenced_marks: count must be >= 0, got " + std::to_string(count));
  std::string text = raw;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  std::vector<int> ids;
  const auto add = [&](int id) {
    if (id >= 1 && id <= count && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '[') {
      const size_t close = text.find(']', i + 1);
      const size_t nested = text.find('[', i + 1);
      if (close != std::string::npos && (nested == std::string::npos || close < nested)) {
        // A list of marks, separated by commas or semicolons: "[1, 2]".
        std::string inside = text.substr(i + 1, close - i - 1);
        std::replace(inside.begin(), inside.end(), ';', ',');
        size_t start = 0;
        while (start <= inside.size()) {
          const size_t comma = std::min(inside.find(',', start), inside.size());
          add(mark_id(trim(inside.substr(start, comma - start)), style));
          start = comma + 1;
        }
        i = close + 1;
        continue;
      }
    }
    if (text.compare(i, 6, "region") == 0 && (i == 0 || !is_alnum(text[i - 1]))) {
      size_t j = i + 6;
      if (j < text.size() && text[j] == ' ') ++j;
      const size_t digits = j;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && j - digits < 6) ++j;
      if (j > digits && (j == text.size() || !is_alnum(text[j]))) {
        add(mark_id(text.substr(digits, j - digits), MarkStyle::Numbers));
        i = j;
        continue;
      }
    }
    ++i;
  }
  return ids;
}

}  // namespace regionlm::som
