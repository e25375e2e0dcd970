#include "regionlm/gpt4roi/prompt.hpp"

#include <algorithm>
#include <string_view>

#include "regionlm/error.hpp"
#include "regionlm/text/sequence.hpp"

namespace regionlm::gpt4roi {
namespace {

constexpr const char* kReserved[] = {"<image>", "<bbox>", "<point>", "<im_patch>",
                                     "<im_start>", "<im_end>", "[PAD]"};

// `<region>`, `<regionK>` or `<K>` at `pos`: its length and K (-1 for `<region>`); 0 if none.
size_t match_placeholder(std::string_view text, size_t pos, int64_t& number) {
  if (text[pos] != '<') return 0;
  size_t end = pos + 1;
  constexpr std::string_view kRegion = "region";
  const bool named = text.compare(end, kRegion.size(), kRegion) == 0;
  if (named) end += kRegion.size();
  const size_t digits = end;
  number = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
    if (end - digits >= 9) return 0;
    number = number * 10 + (text[end] - '0');
    ++end;
  }
  if (end >= text.size() || text[end] != '>') return 0;
  if (end == digits && !named) return 0;  // "<>"
  if (end == digits) number = -1;         // plain <region>
  return end + 1 - pos;
}

}  // namespace

RewrittenQuestion rewrite_question(const std::string& question, int64_t num_regions,
                                   std::vector<bool>& seen) {
  if (num_regions < 0) throw ArgumentError("num_regions must be >= 0, got " + std::to_string(num_regions));
  seen.resize(static_cast<size_t>(num_regions), false);
  for (const char* reserved : kReserved) {
    if (question.find(reserved) != std::string::npos) {
      throw ArgumentError(std::string("question: \"") + reserved +
                          "\" is reserved for the prompt GPT4RoI builds; name regions with <region1>, "
                          "<region2>, ... (got \"" + question + "\")");
    }
  }
  RewrittenQuestion out;
  const std::string_view text(question);
  size_t copied = 0;
  int64_t sequential = 0;
  bool numbered = false;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    int64_t k = 0;
    const size_t len = match_placeholder(text, pos, k);
    if (len == 0) continue;
    const std::string spelled(text.substr(pos, len));
    if (k < 0) {
      k = ++sequential;
    } else {
      numbered = true;
    }
    if (sequential > 0 && numbered) {
      throw ArgumentError("question: <region> and numbered placeholders (" + spelled +
                          ") cannot be mixed in one message");
    }
    if (k < 1 || k > num_regions) {
      throw ArgumentError("question: placeholder " + spelled + " names region " + std::to_string(k) + " but " +
                          std::to_string(num_regions) + " region(s) were given: more <bbox> than regions");
    }
    out.text.append(text.substr(copied, pos - copied));
    out.text += "region" + std::to_string(k);
    if (!seen[static_cast<size_t>(k - 1)]) {
      seen[static_cast<size_t>(k - 1)] = true;
      out.text += " <bbox>";
      out.new_regions.push_back(k - 1);
    }
    copied = pos + len;
    pos += len - 1;
  }
  out.text.append(text.substr(copied));
  return out;
}

std::string render_prompt(const std::vector<text::Turn>& history, const std::string& question) {
  std::string out = std::string(kSystem) + "\n\n";
  for (const auto& turn : history) {
    out += "### Human: " + turn.user + "\n";
    out += "### Assistant: " + turn.assistant + "\n";
  }
  out += "### Human: " + question + "\n";
  out += "### ";
  return out;
}

PromptLayout build_prompt(const text::Tokenizer& tokenizer, const std::vector<text::Turn>& history,
                          const std::string& question, int64_t num_regions, int64_t num_image_tokens,
                          int64_t max_length, bool require_all_regions,
                          const std::string& first_turn_prefix) {
  text::check_prompt_bytes(history, question, "GPT4RoI prompt");
  int64_t added[6];
  for (int i = 0; i < 6; ++i) {
    try {
      added[i] = tokenizer.token_id(kAddedTokens[i]);
    } catch (const Error&) {
      throw ArgumentError(std::string("GPT4RoI prompt: the tokenizer has no added token ") + kAddedTokens[i] +
                          " (expected added_tokens.json with [PAD], <im_patch>, <bbox>, <point>, <im_start>, "
                          "<im_end>)");
    }
  }
  const int64_t patch_id = added[1], bbox_id = added[2], start_id = added[4], end_id = added[5];
  if (num_image_tokens <= 0) {
    throw ArgumentError("GPT4RoI prompt: num_image_tokens must be positive, got " +
                        std::to_string(num_image_tokens));
  }
  const size_t marker_at = first_turn_prefix.find("<image>");
  if (marker_at == std::string::npos || first_turn_prefix.find("<image>", marker_at + 1) != std::string::npos) {
    throw ArgumentError("GPT4RoI prompt: the first-turn prefix \"" + first_turn_prefix +
                        "\" must contain \"<image>\" exactly once");
  }
  std::vector<bool> seen;
  std::vector<text::Turn> turns;
  std::vector<int64_t> order;
  auto rewrite = [&](const std::string& user, bool first) {
    auto r = rewrite_question(user, num_regions, seen);
    order.insert(order.end(), r.new_regions.begin(), r.new_regions.end());
    return (first ? first_turn_prefix : std::string()) + r.text;
  };
  for (size_t i = 0; i < history.size(); ++i) {
    turns.push_back({rewrite(history[i].user, i == 0), history[i].assistant});
  }
  const std::string last = rewrite(question, history.empty());
  if (require_all_regions && static_cast<int64_t>(order.size()) != num_regions) {
    for (int64_t r = 0; r < num_regions; ++r) {
      if (!seen[static_cast<size_t>(r)]) {
        throw ArgumentError("GPT4RoI prompt: region " + std::to_string(r + 1) + " of " +
                            std::to_string(num_regions) + " is never referenced (write <region" +
                            std::to_string(r + 1) + ">)");
      }
    }
  }
  std::string text = render_prompt(turns, last);
  const size_t marker = text.find("<image>");
  std::string block = "<im_start>";
  for (int64_t i = 0; i < num_image_tokens; ++i) block += "<im_patch>";
  block += "<im_end>";
  text.replace(marker, std::string_view("<image>").size(), block);

  PromptLayout layout;
  layout.ids = tokenizer.encode(text, /*add_bos=*/true);
  layout.image_tokens = num_image_tokens;
  for (int64_t i = 0; i < layout.length(); ++i) {
    const int64_t id = layout.ids[static_cast<size_t>(i)];
    if (id == patch_id && layout.image_begin < 0) layout.image_begin = i;
    if (id == bbox_id) layout.bbox_positions.push_back(i);
  }
  // The block is tokenised as added tokens: <im_start>, N x <im_patch>, <im_end> in a row.
  const int64_t b = layout.image_begin;
  if (b < 1 || b + num_image_tokens >= layout.length() || layout.ids[static_cast<size_t>(b - 1)] != start_id ||
      layout.ids[static_cast<size_t>(b + num_image_tokens)] != end_id) {
    throw ArgumentError("GPT4RoI prompt: the tokenizer did not keep the image block together");
  }
  if (layout.bbox_positions.size() != order.size()) {
    throw ArgumentError("GPT4RoI prompt: " + std::to_string(layout.bbox_positions.size()) +
                        " <bbox> tokens for " + std::to_string(order.size()) + " region mentions");
  }
  layout.bbox_regions = order;
  if (layout.length() > max_length) {
    throw ArgumentError("GPT4RoI prompt: " + std::to_string(layout.length()) + " positions exceed the " +
                        std::to_string(max_length) + " the decoder can hold");
  }
  return layout;
}

std::string clean_answer(const std::string& generated) {
  std::string s = generated.substr(0, generated.find(kStopString));
  const size_t first = s.find_first_not_of(" \t\r\n");
  s = first == std::string::npos ? std::string() : s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
  for (const std::string_view pattern : {std::string_view("Assistant: "), std::string_view("Assistant:")}) {
    for (size_t at = s.find(pattern); at != std::string::npos; at = s.find(pattern, at)) {
      s.erase(at, pattern.size());
    }
  }
  return s;
}

std::string AnswerStream::push(const std::string& piece, bool finished) {
  raw_ += piece;
  std::string clean = clean_answer(raw_);
  if (!finished) {
    // Hold back what a later piece may still remove: trailing white space (stripped at the end)
    // and a tail that may grow into "Assistant:".
    size_t keep = clean.find_last_not_of(" \t\r\n");
    keep = keep == std::string::npos ? 0 : keep + 1;
    constexpr std::string_view kRole = "Assistant:";
    for (size_t n = std::min(kRole.size() - 1, keep); n > 0; --n) {
      if (std::string_view(clean).substr(keep - n, n) == kRole.substr(0, n)) {
        keep -= n;
        break;
      }
    }
    clean.resize(keep);
  }
  // What was emitted is a prefix of every later clean text except in contrived inputs (a removal
  // that joins text before an earlier hold-back); then nothing more can be streamed correctly.
  if (clean.size() <= emitted_.size() || clean.compare(0, emitted_.size(), emitted_) != 0) return {};
  std::string out = clean.substr(emitted_.size());
  emitted_ = std::move(clean);
  return out;
}

}  // namespace regionlm::gpt4roi
