#include "regionlm/text/sequence.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/text/placeholders.hpp"

namespace regionlm::text {
namespace {

std::optional<int64_t> added_id(const Tokenizer& tok, const std::string& piece) {
  for (const auto& [p, id] : tok.added_tokens()) {
    if (p == piece) return id;
  }
  return std::nullopt;
}

size_t count_occurrences(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string_view::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}

/// Messages must not smuggle in an image marker; answers must not contain region tokens
/// (they would be spliced as regions).
void check_message(const std::string& text, const std::string& what, bool is_answer) {
  if (text.find(kImageMarker) != std::string::npos) {
    throw ArgumentError(what + " contains \"<image>\": the image block is placed by the template "
                        "(include_image), not written in messages");
  }
  if (is_answer && (text.find("<mask>") != std::string::npos || text.find("<pos>") != std::string::npos)) {
    throw ArgumentError(what + " contains \"<mask>\" or \"<pos>\": region tokens belong in questions");
  }
}

/// Appends the chunks of one tokenized piece of text: runs of ordinary ids become Text chunks,
/// each <mask><pos> pair a Region chunk for the next entry of `region_order`.
void append_text(const Tokenizer& tok, const std::vector<int64_t>& ids,
                 const std::vector<int64_t>& region_order, size_t& next_region,
                 std::vector<Chunk>& chunks) {
  const std::optional<int64_t> mask = added_id(tok, "<mask>");
  const std::optional<int64_t> pos = added_id(tok, "<pos>");
  Chunk text;
  auto flush = [&] {
    if (text.ids.empty()) return;
    text.length = static_cast<int64_t>(text.ids.size());
    chunks.push_back(std::move(text));
    text = Chunk{};
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool is_mask = mask && ids[i] == *mask;
    const bool is_pos = pos && ids[i] == *pos;
    if (!is_mask && !is_pos) {
      text.ids.push_back(ids[i]);
      continue;
    }
    if (!is_mask || i + 1 >= ids.size() || ids[i + 1] != *pos || next_region >= region_order.size()) {
      throw ArgumentError("prompt text holds a \"<mask>\"/\"<pos>\" token that is not one of its "
                          "region placeholders (check the template and the messages)");
    }
    flush();
    Chunk region;
    region.kind = Chunk::Kind::Region;
    region.region_index = region_order[next_region++];
    region.length = 2;
    chunks.push_back(std::move(region));
    ++i;  // the <pos> of the pair
  }
  flush();
}

void finish_layout(PromptLayout& layout, int64_t max_length, const char* what) {
  layout.length = 0;
  for (const Chunk& c : layout.chunks) layout.length += c.length;
  if (layout.length > max_length) {
    throw ArgumentError(std::string(what) + " needs " + std::to_string(layout.length) +
                        " positions but only " + std::to_string(max_length) +
                        " are available (context length)");
  }
}

}  // namespace

// Tokenizing is linear in the text, but the text itself comes from outside: refuse absurd
// prompts before rendering and encoding them (the position limit is checked after).
void check_prompt_bytes(const std::vector<Turn>& history, const std::string& question, const std::string& what) {
  size_t bytes = question.size();
  for (const Turn& turn : history) bytes += turn.user.size() + turn.assistant.size();
  if (bytes > limits::kMaxPromptBytes) {
    throw ArgumentError(what + " text is " + std::to_string(bytes) + " bytes; at most " +
                        std::to_string(limits::kMaxPromptBytes) + " (limits::kMaxPromptBytes)");
  }
}

PromptLayout build_prompt(const Tokenizer& tok, const ConversationTemplate& tmpl,
                          const std::vector<Turn>& history, const std::string& question,
                          int64_t num_regions, int64_t num_image_tokens, int64_t max_length,
                          bool include_image, UnmentionedRegions unmentioned) {
  if (include_image && num_image_tokens <= 0) {
    throw ArgumentError("num_image_tokens must be > 0 when the prompt includes the image, got " +
                        std::to_string(num_image_tokens));
  }
  check_prompt_bytes(history, question, "prompt");
  // Rewrite each user message's placeholders; region pairs keep conversation text order.
  std::vector<Turn> expanded_history;
  std::vector<int64_t> region_order;
  auto expand = [&](const std::string& message, const std::string& what) {
    check_message(message, what, false);
    ExpandedPrompt e = expand_region_placeholders(message, num_regions, false);
    region_order.insert(region_order.end(), e.region_order.begin(), e.region_order.end());
    return std::move(e.text);
  };
  // The first user message names every region, or is introduced by the region header.
  const std::string& first = history.empty() ? question : history.front().user;
  std::vector<int64_t> first_mentions = expand_region_placeholders(first, num_regions, false).region_order;
  std::sort(first_mentions.begin(), first_mentions.end());
  first_mentions.erase(std::unique(first_mentions.begin(), first_mentions.end()), first_mentions.end());
  const bool introduce = unmentioned == UnmentionedRegions::Introduce && num_regions > 0 &&
                         static_cast<int64_t>(first_mentions.size()) < num_regions;
  const auto expand_first = [&](const std::string& message, const std::string& what) {
    std::string header;
    if (introduce) header = expand(region_header(num_regions), "region header");
    return header + expand(message, what);
  };
  for (size_t i = 0; i < history.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    check_message(history[i].assistant, "answer of history turn " + n, true);
    const std::string what = "question of history turn " + n;
    expanded_history.push_back({i == 0 ? expand_first(history[i].user, what) : expand(history[i].user, what),
                                history[i].assistant});
  }
  const std::string expanded_question = history.empty() ? expand_first(question, "question") : expand(question, "question");
  check_all_regions_referenced(region_order, num_regions);
  if (!region_order.empty()) {
    tok.mask_id();  // ConfigError up front when the tokenizer has no region tokens
    tok.pos_id();
  }

  const std::string text = render_conversation(tmpl, expanded_history, expanded_question, include_image);
  const size_t markers = count_occurrences(text, kImageMarker);
  if (markers != (include_image ? 1u : 0u)) {
    throw ArgumentError("conversation template \"" + tmpl.name + "\" yields " + std::to_string(markers) +
                        " \"<image>\" markers, expected " + (include_image ? "1" : "0"));
  }

  PromptLayout layout;
  size_t next_region = 0;
  if (include_image) {
    // tokenizer_image_token: each side of the marker is tokenized on its own.
    const size_t at = text.find(kImageMarker);
    append_text(tok, tok.encode(text.substr(0, at), true), region_order, next_region, layout.chunks);
    Chunk image;
    image.kind = Chunk::Kind::Image;
    image.length = num_image_tokens;
    layout.chunks.push_back(std::move(image));
    append_text(tok, tok.encode(text.substr(at + std::string_view(kImageMarker).size()), false),
                region_order, next_region, layout.chunks);
  } else {
    append_text(tok, tok.encode(text, true), region_order, next_region, layout.chunks);
  }
  if (next_region != region_order.size()) {
    throw ArgumentError("prompt tokenized to " + std::to_string(next_region) + " region pairs, expected " +
                        std::to_string(region_order.size()));
  }
  finish_layout(layout, max_length, "prompt");
  return layout;
}

PromptLayout build_followup(const Tokenizer& tok, const ConversationTemplate& tmpl,
                            const std::string& question, int64_t num_regions,
                            int64_t max_length_remaining) {
  check_prompt_bytes({}, question, "follow-up");
  // The continuation re-tokenizes only from the turn end on; that equals the full prompt's
  // tokens only if the turn end is a special token (a segment boundary for the tokenizer).
  const std::vector<int64_t> end_ids = tok.encode(tmpl.turn_end, false);
  if (end_ids.size() != 1 || !tok.is_special(end_ids[0])) {
    throw ArgumentError("conversation template \"" + tmpl.name + "\": turn_end \"" + tmpl.turn_end +
                        "\" is not a single special token, so a follow-up cannot continue a cached chat");
  }
  check_message(question, "question", false);
  const ExpandedPrompt expanded = expand_region_placeholders(question, num_regions, false);
  if (!expanded.region_order.empty()) {
    tok.mask_id();  // ConfigError up front when the tokenizer has no region tokens
    tok.pos_id();
  }
  PromptLayout layout;
  size_t next_region = 0;
  append_text(tok, tok.encode(render_followup(tmpl, expanded.text), false), expanded.region_order,
              next_region, layout.chunks);
  if (next_region != expanded.region_order.size()) {
    throw ArgumentError("follow-up tokenized to " + std::to_string(next_region) + " region pairs, expected " +
                        std::to_string(expanded.region_order.size()));
  }
  finish_layout(layout, max_length_remaining, "follow-up");
  return layout;
}

torch::Tensor assemble_embeddings(const PromptLayout& layout,
                                  const std::function<torch::Tensor(const torch::Tensor& ids)>& embed_fn,
                                  const torch::Tensor& image_tokens, const torch::Tensor& mask_tokens,
                                  const torch::Tensor& pos_tokens) {
  if (!image_tokens.defined() || image_tokens.dim() != 2) {
    throw ShapeError("assemble_embeddings: image_tokens must be [N, H] (N may be 0), got " +
                     (image_tokens.defined() ? std::to_string(image_tokens.dim()) + "-D" : std::string("undefined")));
  }
  const auto options = image_tokens.options();
  const int64_t hidden = image_tokens.size(1);

  std::vector<int64_t> text_ids;
  bool has_regions = false;
  for (const Chunk& c : layout.chunks) {
    if (c.kind == Chunk::Kind::Text) text_ids.insert(text_ids.end(), c.ids.begin(), c.ids.end());
    if (c.kind == Chunk::Kind::Image && c.length != image_tokens.size(0)) {
      throw ShapeError("assemble_embeddings: the layout's image block has " + std::to_string(c.length) +
                       " positions but image_tokens has " + std::to_string(image_tokens.size(0)) + " rows");
    }
    has_regions = has_regions || c.kind == Chunk::Kind::Region;
  }

  torch::Tensor text_embeds;  // [T, H], every text id of the layout in order
  if (!text_ids.empty()) {
    const auto ids = torch::tensor(text_ids, torch::kInt64).to(image_tokens.device());  // [T]
    text_embeds = embed_fn(ids);  // [T, H]
    if (text_embeds.dim() != 2 || text_embeds.size(0) != ids.size(0) || text_embeds.size(1) != hidden) {
      throw ShapeError("assemble_embeddings: embed_fn must map " + std::to_string(ids.size(0)) +
                       " ids to [" + std::to_string(ids.size(0)) + ", " + std::to_string(hidden) +
                       "], got " + c10::str(text_embeds.sizes()));
    }
    text_embeds = text_embeds.to(options);
  }
  torch::Tensor masks, positions;  // [R, H] each, in the output dtype
  const bool one_token = !pos_tokens.defined();  // GPT4RoI: one token per region
  if (has_regions) {
    for (const auto* t : {&mask_tokens, &pos_tokens}) {
      if (one_token && t == &pos_tokens) continue;
      if (!t->defined() || t->dim() != 2 || t->size(1) != hidden) {
        throw ShapeError("assemble_embeddings: mask_tokens and pos_tokens must be [R, " +
                         std::to_string(hidden) + "]");
      }
    }
    if (!one_token && mask_tokens.size(0) != pos_tokens.size(0)) {
      throw ShapeError("assemble_embeddings: " + std::to_string(mask_tokens.size(0)) + " mask tokens but " +
                       std::to_string(pos_tokens.size(0)) + " position tokens");
    }
    masks = mask_tokens.to(options);
    if (!one_token) positions = pos_tokens.to(options);
  }

  std::vector<torch::Tensor> parts;
  int64_t text_offset = 0;
  for (const Chunk& c : layout.chunks) {
    switch (c.kind) {
      case Chunk::Kind::Text:
        parts.push_back(text_embeds.narrow(0, text_offset, c.length));  // [n, H]
        text_offset += c.length;
        break;
      case Chunk::Kind::Image:
        parts.push_back(image_tokens);  // [N, H]
        break;
      case Chunk::Kind::Region:
        if (c.region_index < 0 || c.region_index >= masks.size(0)) {
          throw ShapeError("assemble_embeddings: the layout references region " +
                           std::to_string(c.region_index + 1) + " but only " +
                           std::to_string(masks.size(0)) + " region tokens were given");
        }
        if (c.length != (one_token ? 1 : 2)) {
          throw ShapeError("assemble_embeddings: a region chunk of " + std::to_string(c.length) +
                           " position(s) but region tokens of " + (one_token ? "1 token" : "2 tokens") +
                           " per region");
        }
        parts.push_back(masks.narrow(0, c.region_index, 1));                     // [1, H]
        if (!one_token) parts.push_back(positions.narrow(0, c.region_index, 1));  // [1, H]
        break;
    }
  }
  if (parts.empty()) return torch::empty({1, 0, hidden}, options);
  return torch::cat(parts, 0).unsqueeze(0);  // [1, L, H]
}

torch::Tensor layout_positions(const PromptLayout& layout, int64_t past_length, const torch::Device& device) {
  return torch::arange(past_length, past_length + layout.length,
                       torch::TensorOptions().dtype(torch::kInt64).device(device))
      .unsqueeze(0);  // [1, L]
}

std::vector<int64_t> layout_ids(const PromptLayout& layout, const Tokenizer& tok, int64_t image_token_index) {
  std::vector<int64_t> ids;
  for (const Chunk& c : layout.chunks) {
    switch (c.kind) {
      case Chunk::Kind::Text:
        ids.insert(ids.end(), c.ids.begin(), c.ids.end());
        break;
      case Chunk::Kind::Image:
        ids.push_back(image_token_index);
        break;
      case Chunk::Kind::Region:
        ids.push_back(tok.mask_id());
        ids.push_back(tok.pos_id());
        break;
    }
  }
  return ids;
}

}  // namespace regionlm::text
