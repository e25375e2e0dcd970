#include "regionlm/text/conversation.hpp"

#include <array>

#include "regionlm/error.hpp"

namespace regionlm::text {
namespace {

// Osprey's templates (osprey/conversation.py): conv_osprey_v1 is what its demo and evaluation
// scripts prompt with; conv_vicuna_v1 ("curious user") is the training default. The image
// prefixes are the demo's question prefix and the one the training data ends up with.
const std::array<ConversationTemplate, 2> kTemplates{{
    {"osprey_v1",
     "A chat between a curious human and an artificial intelligence assistant. The assistant "
     "gives helpful, detailed, and polite answers to the human's questions.",
     "USER", "ASSISTANT", " ", "</s>", "<image>\n\nThis provides an overview of the picture.\n"},
    {"vicuna_v1",
     "A chat between a curious user and an artificial intelligence assistant. The assistant "
     "gives helpful, detailed, and polite answers to the user's questions.",
     "USER", "ASSISTANT", " ", "</s>", "<image>\nThis provides an overview of the picture.\n"},
}};

// Between a role name and its message.
constexpr const char* kRoleSuffix = ": ";

}  // namespace

const ConversationTemplate& conversation_template(const std::string& name) {
  for (const auto& t : kTemplates) {
    if (t.name == name) return t;
  }
  std::string known;
  for (const auto& t : kTemplates) known += (known.empty() ? "" : ", ") + t.name;
  throw ArgumentError("unknown conversation template \"" + name + "\" (known: " + known + ")");
}

std::vector<std::string> conversation_template_names() {
  std::vector<std::string> names;
  for (const auto& t : kTemplates) names.push_back(t.name);
  return names;
}

std::string render_conversation(const ConversationTemplate& tmpl, const std::vector<Turn>& history,
                                 const std::string& question, bool include_image) {
  std::string out = tmpl.system + tmpl.separator;
  bool first = true;
  auto user = [&](const std::string& text) {
    out += tmpl.user_role + kRoleSuffix;
    if (first && include_image) out += tmpl.image_prefix;
    out += text + tmpl.separator;
    first = false;
  };
  for (const Turn& turn : history) {
    user(turn.user);
    out += tmpl.assistant_role + kRoleSuffix + turn.assistant + tmpl.turn_end;
  }
  user(question);
  out += tmpl.assistant_role + ":";
  return out;
}

std::string render_followup(const ConversationTemplate& tmpl, const std::string& question) {
  return tmpl.turn_end + tmpl.user_role + kRoleSuffix + question + tmpl.separator +
         tmpl.assistant_role + ":";
}

}  // namespace regionlm::text
