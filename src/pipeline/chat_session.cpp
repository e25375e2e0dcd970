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

/// A cache of at least `capacity` positions holding the first `keep` positions of `cache`.
void ensure_capacity(pipeline::ChatState& state, int64_t capacity, int64_t keep) {
  if (state.cache && state.cache->capacity() >= capacity) return;
  const pipeline::ModelImpl& model = *state.model;
  // Grow geometrically so that a long chat reallocates O(log n) times.
  const int64_t old_capacity = state.cache ? state.cache->capacity() : 0;
  const int64_t size = std::min(model.config.text.max_position_embeddings, std::max(capacity, 2 * old_capacity));
  auto grown = std::make_unique<llm::KVCache>(model.config.text, 1, size, model.options());
  if (state.cache && keep > 0) grown->broadcast_prefix_from(*state.cache, 0, keep);
  state.cache = std::move(grown);
}

}  // namespace

ChatSession::ChatSession(std::unique_ptr<pipeline::ChatState> state) : state_(std::move(state)) {}
ChatSession::ChatSession(ChatSession&&) noexcept = default;
ChatSession& ChatSession::operator=(ChatSession&&) noexcept = default;
ChatSession::~ChatSession() = default;

Answer ChatSession::ask(const std::string& question, const GenerationOptions& options) {
  if (!state_) throw ArgumentError("ChatSession was moved from");
  c10::InferenceMode inference;
  pipeline::ChatState& state = *state_;
  const pipeline::ModelImpl& model = *state.model;
  const auto& image = pipeline::Access::data(state.image, model);

  // The whole conversation as a fresh prompt; the cache already holds its longest prefix
  // that matches what was fed before, so only the rest is prefilled.
  const text::PromptLayout layout =
      text::build_prompt(model.tokenizer, model.conversation, state.history, question, state.num_regions,
                         image.image_tokens.size(0), pipeline::max_prompt_length(model));
  const std::vector<int64_t> signature = pipeline::layout_signature(layout);
  const auto mismatch = std::mismatch(signature.begin(), signature.end(), state.cached.begin(), state.cached.end());
  // At least one position is fed: its logits choose the first answer token.
  const int64_t reused = std::min<int64_t>(mismatch.first - signature.begin(), layout.length - 1);

  ensure_capacity(state, pipeline::cache_capacity(model, layout.length, options.max_new_tokens), reused);
  state.cache->truncate(reused);
  state.cached.resize(static_cast<size_t>(reused));

  const torch::Tensor embeds = pipeline::embed_layout(model, layout, image, state.regions)  // [1, L, hidden]
                                   .narrow(1, reused, layout.length - reused);              // [1, L - reused, hidden]
  llm::GenerationOptions generation = pipeline::generation_options(options, layout);
  generation.cache_final_token = true;  // the next turn continues after the whole answer
  const llm::GenerationResult result = llm::generate(model.llama, *state.cache, embeds, generation,
                                                     pipeline::decode_fn(model), model.tokenizer.eos_id());

  state.cached.insert(state.cached.end(), signature.begin() + reused, signature.end());
  const int64_t fed = state.cache->length() - static_cast<int64_t>(state.cached.size());
  state.cached.insert(state.cached.end(), result.tokens.begin(), result.tokens.begin() + fed);
  state.history.push_back({question, strip(result.text)});

  Answer answer;
  answer.text = result.text;
  answer.tokens = result.tokens;
  answer.stop_reason = result.stop_reason;
  answer.timings = result.timings;
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
  if (state_->cache) state_->cache->reset();
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
  auto state = std::make_unique<ChatState>();
  state->model = model;
  state->image = image;
  state->num_regions = static_cast<int64_t>(regions.size());
  state->regions = encode_regions(*model, Access::data(image, *model), regions);
  return Access::make_chat(std::move(state));
}

}  // namespace pipeline
}  // namespace regionlm
