#include "regionlm/llm/text_stream.hpp"

#include <algorithm>

namespace regionlm::llm {

TextStream::TextStream(std::vector<std::string> stop_strings) {
  for (auto& stop : stop_strings) {
    if (!stop.empty()) stop_strings_.push_back(std::move(stop));
  }
}

size_t TextStream::pending_stop_prefix(const std::string& text) const {
  size_t longest = 0;
  for (const auto& stop : stop_strings_) {
    for (size_t length = std::min(stop.size() - 1, text.size()); length > longest; --length) {
      if (text.compare(text.size() - length, length, stop, 0, length) == 0) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

TextStream::Update TextStream::update(const std::string& full_text, bool final) {
  Update update;
  size_t end = std::string::npos;
  for (const auto& stop : stop_strings_) end = std::min(end, full_text.find(stop));
  if (end != std::string::npos) {
    update.stopped = true;
  } else {
    end = final ? full_text.size() : full_text.size() - pending_stop_prefix(full_text);
  }
  if (end > released_.size()) {
    update.piece = full_text.substr(released_.size(), end - released_.size());
    released_ += update.piece;
  }
  return update;
}

}  // namespace regionlm::llm
