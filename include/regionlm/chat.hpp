#pragma once
// A multi-turn conversation about one image and its regions (Model::chat).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "regionlm/answer.hpp"
#include "regionlm/text/conversation.hpp"

namespace regionlm {

namespace pipeline {
struct Access;
struct ChatState;
}  // namespace pipeline

/// A conversation that keeps the decoder's KV cache between turns: asking a question
/// prefills only the tokens the cache does not already hold (the previous answer's end and
/// the new question), never the earlier turns; the answer equals a fresh prefill of the
/// whole conversation. Questions use the placeholders of the session's regions. When the first
/// question leaves regions unmentioned, Osprey's region header introduces them all (see
/// Model::layout); later questions may reference any region (`<regionK>` splices region K
/// again) or none.
///
/// Holds the model (shared) and the image; movable, not copyable. Not thread-safe: use one
/// session per thread (any number of sessions may share one Model).
class ChatSession {
 public:
  ChatSession(ChatSession&&) noexcept;
  ChatSession& operator=(ChatSession&&) noexcept;
  ~ChatSession();

  /// Answers `question` in the context of every earlier turn. Throws ArgumentError for bad
  /// placeholders or when the conversation no longer fits the context; the session is then
  /// unchanged.
  Answer ask(const std::string& question, const GenerationOptions& options = {});
  /// The answered turns: questions as asked, answers as the template re-reads them
  /// (surrounding white space stripped, as Osprey's chat does).
  const std::vector<text::Turn>& history() const;
  /// Forgets the conversation (image and regions stay).
  void reset();
  /// Positions currently held by the KV cache (diagnostics).
  int64_t cached_positions() const;

 private:
  friend struct pipeline::Access;
  explicit ChatSession(std::unique_ptr<pipeline::ChatState> state);
  std::unique_ptr<pipeline::ChatState> state_;
};

}  // namespace regionlm
