#include "regionlm/chat.hpp"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <algorithm>

#include "pipeline/chat_state.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"

namespace regionlm {

namespace {

std::string strip(const std::string& s) {
  const char* space = " \t\r\n";
  const size_t first = s.find_first_not_of(space);
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

}  // namespace

void pipeline::ensure_capacity(ChatState& state, int64_t capacity, int64_t keep) {
  if (state.cache && state.cache->capacity() >= capacity) return;
  const pipeline::ModelImpl& model = *pipeline::Access::impl(state.model);
  const LlamaConfig& text = model.text_config();
  // Grow geometrically so that a long chat reallocates O(log n) times.
  const int64_t old_capacity = state.cache ? state.cache->capacity() : 0;
  const int64_t size = std::min(text.max_position_embeddings, std::max(capacity, 2 * old_capacity));
  auto grown = std::make_unique<llm::KVCache>(pipeline::new_cache(model, 1, size, state.prefix));
  if (state.cache && keep > grown->prefix_length()) grown->broadcast_prefix_from(*state.cache, 0, keep);
  state.cache = std::move(grown);
}

ChatSession::ChatSession(std::unique_ptr<pipeline::ChatState> state) : state_(std::move(state)) {}
ChatSession::ChatSession(ChatSession&&) noexcept = default;
ChatSession& ChatSession::operator=(ChatSession&&) noexcept = default;
ChatSession::~ChatSession() = default;

Answer ChatSession::ask(const std::string& question, const GenerationOptions& options) {
  if (!state_) throw ArgumentError("ChatSession was moved from");
  c10::InferenceMode inference;
  pipeline::ChatState& state = *state_;
  const pipeline::ModelImpl& model = *pipeline::Access::impl(state.model);
  const EncodedImage::Data& image = pipeline::Access::data(state.image, model);

  // The whole conversation as a fresh prompt (as Osprey and GPT4RoI lay it out: a region may be
  // first named in any turn); the cache already holds its longest prefix that matches what was
  // fed before, so only the rest is prefilled.
  const text::PromptLayout layout =
      pipeline::layout(model, question, state.regions.size(), state.history, /*every_region_named=*/false);
  const std::vector<int64_t> signature = pipeline::layout_signature(layout);
  if (!state.cache) {
    // The system text and image tokens start every turn: the image's shared prefix (made by
    // its first question, from this chat or from describe) is read, not copied.
    const auto head = pipeline::split_layout(layout, pipeline::chunks_through_image(layout)).first;
    state.prefix = pipeline::image_prefix(model, image, head, state.prefix_ms);
    if (state.prefix) state.prefix_signature = pipeline::layout_signature(head);
  }
  if (state.prefix && state.cached.size() < state.prefix_signature.size()) state.cached = state.prefix_signature;
  const bool reused_prefix_only = state.prefix && state.cached.size() == state.prefix_signature.size();
  const auto mismatch = std::mismatch(signature.begin(), signature.end(), state.cached.begin(), state.cached.end());
  // At least one position is fed: its logits choose the first answer token.
  const int64_t reused = std::min<int64_t>(mismatch.first - signature.begin(), layout.length - 1);

  ensure_capacity(state, pipeline::cache_capacity(model, layout.length, options.max_new_tokens), reused);
  state.cache->truncate(reused);
  state.cached.resize(static_cast<size_t>(reused));

  const torch::Tensor embeds = pipeline::embed(model, layout, image, state.regions)  // [1, L, hidden]
                                   .narrow(1, reused, layout.length - reused);       // [1, L - reused, hidden]
  // The next turn continues after the whole answer: the final token goes into the cache too.
  Answer answer = std::move(pipeline::generate_answers(model, *state.cache, layout, embeds, options,
                                                       state.regions.size(), /*per_row_first_region=*/false,
                                                       /*cache_final_token=*/true)
                                .front());

  if (reused_prefix_only) {
    // The first turn's prompt includes the shared prefix, as describe() counts it.
    answer.timings.prompt_tokens += static_cast<int64_t>(state.prefix_signature.size());
    answer.timings.prefill_ms += state.prefix_ms;  // nonzero when this turn made the prefix
  }
  state.prefix_ms = 0;
  state.cached.insert(state.cached.end(), signature.begin() + reused, signature.end());
  const int64_t fed = state.cache->length() - static_cast<int64_t>(state.cached.size());
  state.cached.insert(state.cached.end(), answer.tokens.begin(), answer.tokens.begin() + fed);
  // Each family's demo puts the answer back as it showed it (GPT4RoI's is cleaned already).
  state.history.push_back({question, model.gpt4roi ? answer.text : strip(answer.text)});
  answer.notes = state.regions.notes;
  return answer;
}

const std::vector<text::Turn>& ChatSession::history() const {
  if (!state_) throw ArgumentError("ChatSession was moved from");
  return state_->history;
}

void ChatSession::reset() {
  if (!state_) throw ArgumentError("ChatSession was moved from");
  state_->history.clear();
  state_->cached.clear();
  state_->cache.reset();  // the next question starts again from the image's shared prefix
}

int64_t ChatSession::cached_positions() const {
  if (!state_) throw ArgumentError("ChatSession was moved from");
  return state_->cache ? state_->cache->length() : 0;
}

namespace pipeline {

ChatSession Access::make_chat(std::unique_ptr<ChatState> state) { return ChatSession(std::move(state)); }

ChatSession start_chat(const std::shared_ptr<const ModelImpl>& model, const EncodedImage& image,
                       const std::vector<Region>& regions) {
  c10::InferenceMode inference;
  auto state = std::make_unique<ChatState>(Access::make_model(model));
  state->image = image;
  state->regions = encode_regions(*model, Access::data(image, *model), regions);
  return Access::make_chat(std::move(state));
}

}  // namespace pipeline
}  // namespace regionlm
