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

TextStream::Update TextStream::push(const std::string& piece, bool final) {
  Update update;
  if (stopped_) {
    update.stopped = true;
    return update;
  }
  pending_ += piece;
  size_t end = std::string::npos;
  for (const auto& stop : stop_strings_) end = std::min(end, pending_.find(stop));
  if (end != std::string::npos) {
    update.stopped = stopped_ = true;
  } else {
    end = final ? pending_.size() : pending_.size() - pending_stop_prefix(pending_);
  }
  update.piece = pending_.substr(0, end);
  released_ += update.piece;
  pending_.erase(0, stopped_ ? pending_.size() : end);
  return update;
}

}  // namespace regionlm::llm
