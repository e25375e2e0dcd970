#pragma once
// GPT4RoI's prompt (spec A.2): LLaVA v0's "###" template with Human / Assistant roles, the
// first question prefixed by "The <image> provides an overview of the picture.\n", `<image>`
// expanded to <im_start> + one <im_patch> per image token + <im_end>, and region placeholders
// rewritten to "regionK <bbox>" (each <bbox> token's embedding is replaced by that region's
// feature). The answer is cut at the stop string "###" and "Assistant:" is removed, as
// GPT4RoI's demo does.
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/text/conversation.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::gpt4roi {

/// conv_v1_2's system text.
inline constexpr const char* kSystem =
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.";
/// Put before the first question (app.py's begin_str).
inline constexpr const char* kFirstTurnPrefix = "The <image> provides an overview of the picture.\n";
/// GPT4RoI's single-region training question (its demo's first paraphrase), in regionlm's
/// placeholder syntax: `<region>` is the next region.
inline constexpr const char* kDetailedDescription =
    "Can you provide me with a detailed description of the region in the picture marked by <region>?";
/// Generation stops before this text.
inline constexpr const char* kStopString = "###";
/// GPT4RoI's added tokens, in id order after the SentencePiece vocabulary (32000 .. 32005).
inline constexpr const char* kAddedTokens[] = {"[PAD]", "<im_patch>", "<bbox>", "<point>",
                                               "<im_start>", "<im_end>"};

/// One user message with its placeholders rewritten.
struct RewrittenQuestion {
  std::string text;                  // placeholders replaced by "regionK <bbox>" or "regionK"
  std::vector<int64_t> new_regions;  // 0-based regions of its <bbox> tokens, in text order
};

/// Rewrites the placeholders of one user message:
///  - `<regionK>` (1-based, may repeat) and `<K>` (GPT4RoI's demo spelling) name region K;
///  - `<region>` names the next region of this message (1st = region 1, 2nd = region 2, ...).
/// The first mention of a region in the conversation (`seen[k]` false; it is set here) becomes
/// "regionK <bbox>", every later one plain "regionK", so each region has exactly one <bbox>
/// token, as the model requires. (GPT4RoI's demo gives a second <bbox> to a region repeated in
/// one message, which then fails its own box-count check.)
/// Throws ArgumentError naming the placeholder for a region outside [1, num_regions], for
/// sequential and numbered forms mixed in one message, and for the reserved texts <image>,
/// <bbox>, <point>, <im_patch>, <im_start>, <im_end>, [PAD] written in the message.
RewrittenQuestion rewrite_question(const std::string& question, int64_t num_regions,
                                   std::vector<bool>& seen);

/// The prompt text of a conversation whose user messages are already rewritten (the first one
/// including the first-turn prefix, kFirstTurnPrefix by default): kSystem + "\n\n", then "### Human: " + user + "\n" and
/// "### Assistant: " + answer + "\n" per answered turn, "### Human: " + question + "\n", and
/// "### " (the model continues with "Assistant: ..."). `<image>` is left as written.
std::string render_prompt(const std::vector<text::Turn>& history, const std::string& question);

/// A tokenised GPT4RoI prompt.
struct PromptLayout {
  std::vector<int64_t> ids;             // BOS first; the image block as <im_start>, <im_patch> x N, <im_end>
  int64_t image_begin = -1;             // position of the first <im_patch>
  int64_t image_tokens = 0;             // N
  std::vector<int64_t> bbox_positions;  // positions of the <bbox> tokens, ascending
  std::vector<int64_t> bbox_regions;    // the 0-based region of each <bbox> token
  int64_t length() const { return static_cast<int64_t>(ids.size()); }
};

/// Builds the decoder input for `question` after the answered `history` (user messages as the
/// user wrote them; they are rewritten again, deterministically), the first one after
/// `first_turn_prefix` (holding "<image>" exactly once; ArgumentError otherwise). `require_all_regions`: every
/// one of `num_regions` must have its <bbox> by the end (describe); a chat may introduce
/// regions later. Throws ArgumentError for placeholder errors, unreferenced regions, a
/// tokenizer without GPT4RoI's added tokens (naming the missing one), or a prompt longer than
/// `max_length` positions.
PromptLayout build_prompt(const text::Tokenizer& tokenizer, const std::vector<text::Turn>& history,
                          const std::string& question, int64_t num_regions, int64_t num_image_tokens,
                          int64_t max_length, bool require_all_regions,
                          const std::string& first_turn_prefix = kFirstTurnPrefix);

/// The answer as GPT4RoI's demo shows it: text before "###", white space stripped, every
/// "Assistant: " and "Assistant:" removed.
std::string clean_answer(const std::string& generated);

/// Streams the cleaned answer while it is generated: push() takes the decoder's pieces in order
/// and returns the part of clean_answer(text so far) that later pieces can no longer change
/// (white space that may turn out to be trailing and a possible "Assistant:" are held back);
/// with `finished`, everything that is left. The returned pieces concatenate to
/// clean_answer(all pieces), except when a removal joins the text around it into a new
/// "Assistant:" ("AssistAssistant: ant:"), which no model output was seen to do.
class AnswerStream {
 public:
  std::string push(const std::string& piece, bool finished);

 private:
  std::string raw_;      // every piece so far
  std::string emitted_;  // what push() has returned so far
};

}  // namespace regionlm::gpt4roi
