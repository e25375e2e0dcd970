#include <torch/torch.h>

#include <algorithm>

#include "gpt4roi/model_impl.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/model.hpp"

namespace regionlm::gpt4roi {

struct ChatSession::State {
  Model model;
  std::shared_ptr<const Model::Impl> impl;
  EncodedImage image;
  torch::Tensor features;          // [K, hidden] of every box, computed once
  int64_t num_regions = 0;
  std::vector<text::Turn> history;
  llm::KVCache cache;
  std::vector<int64_t> cached_ids;  // the token ids whose keys/values the cache holds
};

ChatSession::ChatSession(std::unique_ptr<State> state) : state_(std::move(state)) {}
ChatSession::ChatSession(ChatSession&&) noexcept = default;
ChatSession& ChatSession::operator=(ChatSession&&) noexcept = default;
ChatSession::~ChatSession() = default;

ChatSession Model::chat(const EncodedImage& image, const std::vector<Box>& boxes) const {
  const torch::Tensor features = region_features(image, boxes);  // validates the boxes
  const auto& text = impl_->config.text;
  auto state = std::unique_ptr<ChatSession::State>(new ChatSession::State{
      *this, impl_, image, features, static_cast<int64_t>(boxes.size()), {},
      llm::KVCache(text, 1, text.max_position_embeddings, impl_->options), {}});
  return ChatSession(std::move(state));
}

Answer ChatSession::ask(const std::string& question, const GenerationOptions& options) {
  c10::InferenceMode guard;
  State& s = *state_;
  const PromptLayout layout = s.model.layout(s.history, question, s.num_regions, /*require_all_regions=*/false);
  const int64_t length = layout.length();
  if (length + 1 > s.cache.capacity()) {
    throw ArgumentError("chat: the conversation (" + std::to_string(length) +
                        " positions) no longer fits the decoder's context of " + std::to_string(s.cache.capacity()));
  }
  const torch::Tensor embeds = s.model.embed(layout, s.image, s.features);  // [1, L, H]
  // The whole conversation is laid out again (GPT4RoI re-encodes it every turn); positions whose
  // ids match the cached ones keep their keys/values. At least one position is prefilled.
  int64_t keep = 0;
  const auto limit = std::min<int64_t>(static_cast<int64_t>(s.cached_ids.size()), length - 1);
  while (keep < limit && s.cached_ids[static_cast<size_t>(keep)] == layout.ids[static_cast<size_t>(keep)]) ++keep;
  s.cache.truncate(std::min(keep, s.cache.length()));
  keep = s.cache.length();
  Answer answer;
  try {
    answer = s.impl->generate(s.cache, embeds.narrow(1, keep, length - keep), layout, options, s.num_regions,
                              /*cache_final_token=*/true);
  } catch (...) {
    s.cache.reset();  // its contents are no longer known: the next turn prefills everything
    s.cached_ids.clear();
    throw;
  }
  s.cached_ids.assign(layout.ids.begin(), layout.ids.end());
  s.cached_ids.insert(s.cached_ids.end(), answer.tokens.begin(), answer.tokens.end());
  s.cached_ids.resize(static_cast<size_t>(std::min<int64_t>(s.cache.length(), static_cast<int64_t>(s.cached_ids.size()))));
  s.history.push_back({question, answer.text});
  return answer;
}

const std::vector<text::Turn>& ChatSession::history() const { return state_->history; }
int64_t ChatSession::cached_positions() const { return state_->cache.length(); }

}  // namespace regionlm::gpt4roi
