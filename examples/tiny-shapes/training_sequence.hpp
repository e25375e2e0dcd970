#pragma once
// Decoder inputs for training, laid out exactly as inference lays them out: the first turn is
// what Model::describe builds for that question (text::build_prompt), later turns are what a
// ChatSession appends (text::build_followup), and each answer is followed by the template's
// end-of-turn token. Targets mark the answer tokens only (teacher forcing, prompt unscored).
#include <cstdint>
#include <vector>

#include "regionlm/text/conversation.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"
#include "scene.hpp"

namespace regionlm::tiny_shapes {

/// Target value of positions that are not scored.
inline constexpr int64_t kIgnoreTarget = -100;

/// One training conversation about one image.
struct TrainingSequence {
  text::PromptLayout layout;     // prompt, answers and follow-ups; regions index `objects`
  std::vector<int64_t> targets;  // per position: the token that follows it, or kIgnoreTarget
  std::vector<int> objects;      // scene object behind each region index, in region order
};

/// Builds training sequences with a model's tokenizer and conversation template.
class SequenceBuilder {
 public:
  /// `num_image_tokens`: rows of the image block; `max_length`: the decoder's positions.
  SequenceBuilder(text::Tokenizer tokenizer, text::ConversationTemplate conversation,
                  int64_t num_image_tokens, int64_t max_length);

  /// The conversation asking `turns` in order (one turn = a single describe() question).
  /// Question regions refer to scene objects; each object becomes a region on first use.
  /// Throws ArgumentError when `turns` is empty or the result exceeds max_length.
  TrainingSequence build(const std::vector<Question>& turns) const;

  const text::Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  text::Tokenizer tokenizer_;
  text::ConversationTemplate conversation_;
  int64_t num_image_tokens_;
  int64_t max_length_;
};

}  // namespace regionlm::tiny_shapes
