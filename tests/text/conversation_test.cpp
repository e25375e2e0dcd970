// Conversation templates and the prompt text they render.
#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/text/conversation.hpp"

using namespace regionlm::text;

namespace {
const std::string kOspreySystem =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the human's questions.";
}

TEST(Conversation, BuiltInTemplates) {
  const ConversationTemplate& osprey = conversation_template("osprey_v1");
  EXPECT_EQ(osprey.system, kOspreySystem);
  EXPECT_EQ(osprey.user_role, "USER");
  EXPECT_EQ(osprey.assistant_role, "ASSISTANT");
  EXPECT_EQ(osprey.separator, " ");
  EXPECT_EQ(osprey.turn_end, "</s>");
  EXPECT_EQ(osprey.image_prefix, "<image>\n\nThis provides an overview of the picture.\n");
  const ConversationTemplate& vicuna = conversation_template("vicuna_v1");
  EXPECT_NE(vicuna.system.find("curious user"), std::string::npos);
  EXPECT_EQ(conversation_template_names(), (std::vector<std::string>{"osprey_v1", "vicuna_v1"}));
  try {
    conversation_template("llava_v1");
    FAIL() << "no error for an unknown template";
  } catch (const regionlm::ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("osprey_v1, vicuna_v1"), std::string::npos) << e.what();
  }
}

TEST(Conversation, SingleTurnWithImage) {
  const ConversationTemplate& t = conversation_template("osprey_v1");
  EXPECT_EQ(render_conversation(t, {}, "What is in <mask><pos>?", true),
            kOspreySystem + " USER: <image>\n\nThis provides an overview of the picture.\n"
                            "What is in <mask><pos>? ASSISTANT:");
  EXPECT_EQ(render_conversation(t, {}, "Hi", false), kOspreySystem + " USER: Hi ASSISTANT:");
}

TEST(Conversation, MultiTurnPutsImageInFirstQuestion) {
  const ConversationTemplate& t = conversation_template("osprey_v1");
  const std::vector<Turn> history{{"q1", "a1"}, {"q2", "a2"}};
  EXPECT_EQ(render_conversation(t, history, "q3", true),
            kOspreySystem + " USER: <image>\n\nThis provides an overview of the picture.\nq1 ASSISTANT: a1</s>"
                            "USER: q2 ASSISTANT: a2</s>USER: q3 ASSISTANT:");
}

TEST(Conversation, FollowupContinuesTheRenderedText) {
  const ConversationTemplate& t = conversation_template("vicuna_v1");
  EXPECT_EQ(render_followup(t, "q2"), "</s>USER: q2 ASSISTANT:");
  EXPECT_EQ(render_conversation(t, {{"q1", "a1"}}, "q2", true),
            render_conversation(t, {}, "q1", true) + " a1" + render_followup(t, "q2"));
}
