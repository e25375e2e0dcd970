#include "training_sequence.hpp"

#include <algorithm>

#include "regionlm/error.hpp"

namespace regionlm::tiny_shapes {
namespace {

// Rewrites a question's own placeholders (<region>, <region1>, <region2>: its first and
// second region) to the conversation's numbering (<regionK>, 1-based).
std::string renumber(const std::string& prompt, const std::vector<int>& global_index) {
  std::string out;
  size_t i = 0;
  int sequential = 0;
  while (i < prompt.size()) {
    if (prompt.compare(i, 7, "<region") != 0) {
      out += prompt[i++];
      continue;
    }
    const size_t close = prompt.find('>', i);
    if (close == std::string::npos) {
      throw ArgumentError("question \"" + prompt + "\" has an unterminated region placeholder");
    }
    const std::string digits = prompt.substr(i + 7, close - i - 7);
    const int local = digits.empty() ? sequential++ : std::stoi(digits) - 1;
    if (local < 0 || local >= static_cast<int>(global_index.size())) {
      throw ArgumentError("question \"" + prompt + "\" names a region it does not have");
    }
    out += "<region" + std::to_string(global_index[static_cast<size_t>(local)] + 1) + ">";
    i = close + 1;
  }
  return out;
}

void append(text::PromptLayout& layout, text::PromptLayout part) {
  for (auto& chunk : part.chunks) layout.chunks.push_back(std::move(chunk));
  layout.length += part.length;
}

}  // namespace

SequenceBuilder::SequenceBuilder(text::Tokenizer tokenizer, text::ConversationTemplate conversation,
                                 int64_t num_image_tokens, int64_t max_length)
    : tokenizer_(std::move(tokenizer)),
      conversation_(std::move(conversation)),
      num_image_tokens_(num_image_tokens),
      max_length_(max_length) {}

TrainingSequence SequenceBuilder::build(const std::vector<Question>& turns) const {
  if (turns.empty()) throw ArgumentError("SequenceBuilder::build: no turns");
  TrainingSequence seq;
  for (size_t t = 0; t < turns.size(); ++t) {
    const Question& q = turns[t];
    std::vector<int> global;  // this question's regions in the conversation's numbering
    for (int object : q.regions) {
      auto it = std::find(seq.objects.begin(), seq.objects.end(), object);
      if (it == seq.objects.end()) {
        seq.objects.push_back(object);
        it = seq.objects.end() - 1;
      }
      global.push_back(static_cast<int>(it - seq.objects.begin()));
    }
    const std::string prompt = renumber(q.prompt, global);
    const auto regions = static_cast<int64_t>(seq.objects.size());
    if (t == 0) {
      seq.layout = text::build_prompt(tokenizer_, conversation_, {}, prompt, regions,
                                      num_image_tokens_, max_length_);
    } else {
      append(seq.layout, text::build_followup(tokenizer_, conversation_, prompt, regions,
                                              max_length_ - seq.layout.length));
    }
    // The answer follows "ASSISTANT:" as generation produces it; its end-of-turn token is the
    // next turn's first token, or only a target after the last answer.
    text::Chunk answer;
    answer.ids = tokenizer_.encode(q.answer);
    answer.length = static_cast<int64_t>(answer.ids.size());
    const int64_t start = seq.layout.length;
    seq.targets.resize(static_cast<size_t>(start + answer.length), kIgnoreTarget);
    for (int64_t k = 0; k < answer.length; ++k) seq.targets[static_cast<size_t>(start - 1 + k)] = answer.ids[k];
    seq.targets.back() = tokenizer_.eos_id();
    seq.layout.length += answer.length;
    seq.layout.chunks.push_back(std::move(answer));
    if (seq.layout.length > max_length_) {
      throw ArgumentError("training conversation needs " + std::to_string(seq.layout.length) +
                          " positions, more than max_length " + std::to_string(max_length_));
    }
  }
  return seq;
}

}  // namespace regionlm::tiny_shapes
