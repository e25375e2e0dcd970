#pragma once
// Osprey's own prompt texts, in the user-facing placeholder syntax (`<region>` = the next
// region, `<region1>`.. = an explicit one). Pass them as the `prompt` of Model::describe.
namespace regionlm::prompts {

/// Osprey's short region description (its demo's default question).
inline constexpr const char* kShortDescription =
    "Please give me a short description of <region>. Using a short phrase.";
/// Osprey's detailed region description.
inline constexpr const char* kDetailedDescription =
    "Can you give me a detailed description of <region>?";
/// Osprey's category question (closed-set evaluation).
inline constexpr const char* kCategory =
    "What is the category of <region>? Using only one word or phrase.";
/// Osprey's open-vocabulary question.
inline constexpr const char* kOpenVocabulary = "What is in <region>? Using a short phrase.";

/// The text put before the first question; `<image>` marks where the image tokens go.
/// Osprey's demo uses this one (the library default) ...
inline constexpr const char* kImagePrefix = "<image>\n\nThis provides an overview of the picture.\n";
/// ... and its evaluation scripts this one (a stray "." line from their preprocessing).
inline constexpr const char* kImagePrefixEval =
    "<image>\n.\nThis provides an overview of the picture.\n";

/// Conversation template Osprey's inference uses (see text/conversation.hpp).
inline constexpr const char* kConversationTemplate = "osprey_v1";

}  // namespace regionlm::prompts
