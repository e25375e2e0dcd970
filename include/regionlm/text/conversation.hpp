#pragma once
// Conversation templates (system text, roles, separators, image placement) as data, and the
// prompt text they produce.
#include <string>
#include <vector>

namespace regionlm::text {

/// A Vicuna-v1 style ("TWO" separator) chat template:
///   system + separator + user_role + ": " + q1 + separator + assistant_role + ": " + a1 + turn_end
///   + user_role + ": " + q2 + separator + assistant_role + ":"
struct ConversationTemplate {
  std::string name;            // key for conversation_template()
  std::string system;          // system text at the very start
  std::string user_role;       // "USER"
  std::string assistant_role;  // "ASSISTANT"
  std::string separator;       // after the system text and after each question: " "
  std::string turn_end;        // after each answer: "</s>" (the EOS token)
  std::string image_prefix;    // put before the first question; "<image>" marks the image block
};

/// The built-in templates: "osprey_v1" (Osprey's inference wording and demo image prefix) and
/// "vicuna_v1" (the wording and image prefix of Osprey's training data). ArgumentError lists
/// the known names for an unknown one.
const ConversationTemplate& conversation_template(const std::string& name);
/// Names of the built-in templates.
std::vector<std::string> conversation_template_names();

/// One answered exchange of a chat.
struct Turn {
  std::string user;       // the question, with region placeholders
  std::string assistant;  // the answer the model gave
};

/// Marker in ConversationTemplate::image_prefix where the image tokens go.
inline constexpr const char* kImageMarker = "<image>";

/// The prompt text of a conversation whose last question awaits an answer (ends with
/// "ASSISTANT:"), exactly as Osprey's `Conversation.get_prompt()` writes it. The image prefix
/// goes before the first question (history[0].user, else `question`) when `include_image`.
/// Text is used verbatim: placeholders are not rewritten here.
std::string render_conversation(const ConversationTemplate& tmpl, const std::vector<Turn>& history,
                                 const std::string& question, bool include_image);

/// The text that continues a rendered conversation after the answer to its last question:
/// turn_end + user_role + ": " + question + separator + assistant_role + ":".
/// render_conversation(history + {q, a}, q2) == render_conversation(history, q) + " " + a +
/// render_followup(q2).
std::string render_followup(const ConversationTemplate& tmpl, const std::string& question);

}  // namespace regionlm::text
