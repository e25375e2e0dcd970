#include <algorithm>

#include "regionlm/error.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::text {
namespace {
// Ids re-decoded per push at most before the window moves up (bounded cost per token).
constexpr size_t kMaxWindow = 32;
}  // namespace

StreamingDecoder::StreamingDecoder(Tokenizer tokenizer, bool skip_special)
    : tokenizer_(std::move(tokenizer)), skip_special_(skip_special) {}

std::string StreamingDecoder::push(int64_t id) {
  if (finished_) throw ArgumentError("StreamingDecoder::push after finish(): call reset() first");
  tokenizer_.piece(id);  // validates the id before it enters the state
  ids_.push_back(id);
  // Re-decode the window with its unfinished UTF-8 tail held back: the text grows only by
  // complete characters, and what was returned before is always a prefix of it.
  const std::vector<int64_t> window(ids_.begin() + static_cast<std::ptrdiff_t>(window_begin_), ids_.end());
  const std::string decoded = tokenizer_.decode(window, skip_special_, /*partial=*/true);
  std::string fresh = decoded.size() > window_emitted_ ? decoded.substr(window_emitted_) : std::string();
  window_emitted_ = std::max(window_emitted_, decoded.size());
  text_ += fresh;

  // Restart the window at the newest id when that id alone decodes to visible text: from then
  // on its continuation decodes the same as in the full sequence (the dummy-prefix rule only
  // touches the first visible piece, and no byte sequence is pending across it).
  if (ids_.size() - window_begin_ >= kMaxWindow && !tokenizer_.is_byte(id)) {
    const std::string alone = tokenizer_.decode({id}, skip_special_, false);
    if (!alone.empty()) {
      window_begin_ = ids_.size() - 1;
      window_emitted_ = alone.size();
    }
  }
  return fresh;
}

std::string StreamingDecoder::finish() {
  finished_ = true;
  const std::vector<int64_t> window(ids_.begin() + static_cast<std::ptrdiff_t>(window_begin_), ids_.end());
  const std::string decoded = tokenizer_.decode(window, skip_special_, /*partial=*/false);
  std::string rest = decoded.size() > window_emitted_ ? decoded.substr(window_emitted_) : std::string();
  window_emitted_ = decoded.size();
  text_ += rest;
  return rest;
}

void StreamingDecoder::reset() {
  ids_.clear();
  window_begin_ = 0;
  window_emitted_ = 0;
  text_.clear();
  finished_ = false;
}

}  // namespace regionlm::text
