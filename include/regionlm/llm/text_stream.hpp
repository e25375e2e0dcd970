#pragma once
// Turns the text pieces of a generation into streamed pieces while honouring stop strings:
// text that could still turn out to be the start of a stop string is held back, and when a
// stop string appears the text is cut right before it, so no part of a stop string ever
// reaches the caller, even when it spans several tokens. Work per piece is bounded by the
// held-back text, not by the answer so far.
#include <string>
#include <vector>

namespace regionlm::llm {

class TextStream {
 public:
  /// Empty stop strings are ignored.
  explicit TextStream(std::vector<std::string> stop_strings);

  struct Update {
    std::string piece;     // text released by this update (may be empty)
    bool stopped = false;  // a stop string was found; text() is final
  };

  /// Appends `piece` (the text the newest token completed). Releases what can no longer
  /// become part of a stop string; with `final`, releases everything left (no more follows).
  /// After a stop, further pieces are ignored.
  Update push(const std::string& piece, bool final);

  /// Everything released so far (the final text once stopped or finalised).
  const std::string& text() const { return released_; }

 private:
  /// Length of the longest suffix of `text` that is a proper prefix of a stop string.
  size_t pending_stop_prefix(const std::string& text) const;

  std::vector<std::string> stop_strings_;
  std::string released_;
  // Received but not yet released: the longest suffix that may begin a stop string. A stop
  // string can only start here (anything earlier was released because it could not).
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace regionlm::llm
