#include "regionlm/llm/generation.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "regionlm/error.hpp"
#include "regionlm/llm/sampler.hpp"
#include "regionlm/llm/text_stream.hpp"
#include "llm/generation_row.hpp"

namespace regionlm {

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::Eos: return "eos";
    case StopReason::StopString: return "stop_string";
    case StopReason::Length: return "length";
    case StopReason::Cancelled: return "cancelled";
  }
  return "unknown";
}

namespace llm {
namespace {

using detail::Clock;
using detail::elapsed_ms;
using detail::RowState;

/// The ids to feed next: each unfinished row's new token, and for finished rows their last
/// token again (their outputs are ignored).
torch::Tensor feed_ids(const std::vector<RowState>& rows, const torch::Tensor& chosen) {
  const bool any_done =
      std::any_of(rows.begin(), rows.end(), [](const RowState& r) { return r.done; });
  if (!any_done) return chosen.view({-1, 1});  // [B, 1], still on the device
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  for (const auto& row : rows) ids.push_back(row.tokens.back());
  return torch::tensor(ids, torch::kLong).view({-1, 1}).to(chosen.device());  // [B, 1]
}

}  // namespace

std::vector<GenerationResult> generate(const Llama& model, KVCache& cache, const torch::Tensor& prompt_embeds,
                                       const GenerationOptions& options, const DecodeSetup& setup) {
  detail::check_inputs(model, cache, prompt_embeds, options, setup);
  c10::InferenceMode inference;
  const auto& config = model->config();
  const int64_t batch = cache.batch();
  const auto device = prompt_embeds.device();
  Sampler sampler(options, batch, config.vocab_size, device);
  if (!setup.penalty_context.empty()) {
    sampler.observe(torch::tensor(setup.penalty_context, torch::kLong)
                        .unsqueeze(0)
                        .expand({batch, -1}));  // [B, N]
  }
  std::vector<RowState> rows;
  rows.reserve(static_cast<size_t>(batch));
  for (int64_t r = 0; r < batch; ++r) rows.emplace_back(options.stop_strings, setup.make_decoder());
  Timings timings;
  timings.prompt_tokens = prompt_embeds.size(1);

  const auto prefill_start = Clock::now();
  auto logits = model->forward(prompt_embeds, cache, /*last_only=*/true);  // [B, 1, V]
  auto chosen = sampler.next(logits.select(1, 0));                          // [B]
  auto chosen_host = chosen.to(torch::kCPU);                                 // [B]
  timings.prefill_ms = elapsed_ms(prefill_start);

  // Every generated token but the last is fed back (and the last too with
  // cache_final_token), so the positions left bound how many tokens fit.
  const int64_t room = cache.remaining() + (setup.cache_final_token ? 0 : 1);
  const int64_t max_tokens = std::min(options.max_new_tokens, room);
  const auto decode_start = Clock::now();
  int64_t decode_forwards = 0;
  while (max_tokens > 0) {
    const auto* ids = chosen_host.data_ptr<int64_t>();
    for (int64_t r = 0; r < batch; ++r) {
      auto& row = rows[static_cast<size_t>(r)];
      if (row.done) continue;
      detail::accept_token(row, r, ids[r], max_tokens, options, setup.eos_token_id);
    }
    if (std::all_of(rows.begin(), rows.end(), [](const RowState& r) { return r.done; })) break;
    const auto embeds = model->model->embed_tokens->forward(feed_ids(rows, chosen));  // [B, 1, H]
    logits = model->forward(embeds, cache, /*last_only=*/true);                       // [B, 1, V]
    chosen = sampler.next(logits.select(1, 0));                                       // [B]
    chosen_host = chosen.to(torch::kCPU);                                             // [B]
    ++decode_forwards;
  }
  if (setup.cache_final_token && max_tokens > 0) {
    model->model->forward(model->model->embed_tokens->forward(feed_ids(rows, chosen)), cache);
    ++decode_forwards;
  }
  timings.decode_ms = elapsed_ms(decode_start);
  if (decode_forwards > 0 && timings.decode_ms > 0) {
    timings.decode_tokens_per_second = decode_forwards * 1000.0 / timings.decode_ms;
  }

  std::vector<GenerationResult> results;
  results.reserve(static_cast<size_t>(batch));
  for (auto& row : rows) results.push_back(detail::finish_row(row, timings));
  return results;
}

namespace detail {

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

void accept_token(RowState& row, int64_t index, int64_t id, int64_t max_tokens, const GenerationOptions& options,
                  int64_t eos_token_id) {
  row.tokens.push_back(id);
  const bool eos = eos_token_id >= 0 && id == eos_token_id;
  const bool full = static_cast<int64_t>(row.tokens.size()) >= max_tokens;
  const auto update = row.stream.push(row.decode(id), eos || full);
  if (update.stopped || eos || full) {
    row.done = true;
    row.reason = update.stopped ? StopReason::StopString : (eos ? StopReason::Eos : StopReason::Length);
  }
  if (options.on_step && !options.on_step(Step{index, id, update.piece, row.done}) && !row.done) {
    row.done = true;
    row.reason = StopReason::Cancelled;
  }
}

void check_inputs(const Llama& model, const KVCache& cache, const torch::Tensor& prompt_embeds,
                  const GenerationOptions& options, const DecodeSetup& setup) {
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != cache.batch()) {
    throw ShapeError("generate: prompt_embeds must be [batch = cache.batch() = " +
                     std::to_string(cache.batch()) + ", T, hidden], got " +
                     c10::str(prompt_embeds.sizes()));
  }
  if (options.max_new_tokens < 1) {
    throw ArgumentError("GenerationOptions.max_new_tokens must be >= 1, got " +
                        std::to_string(options.max_new_tokens));
  }
  if (!setup.make_decoder) throw ArgumentError("generate: DecodeSetup.make_decoder is empty");
  const int64_t vocab = model->config().vocab_size;
  for (const int64_t id : setup.penalty_context) {
    if (id < 0 || id >= vocab) {
      throw ArgumentError("DecodeSetup.penalty_context: id " + std::to_string(id) +
                          " outside [0, vocab_size = " + std::to_string(vocab) + ")");
    }
  }
}

GenerationResult finish_row(RowState& row, const Timings& timings) {
  GenerationResult result;
  result.text = row.stream.text();
  result.tokens = std::move(row.tokens);
  result.stop_reason = row.reason;
  result.timings = timings;
  result.timings.generated_tokens = static_cast<int64_t>(result.tokens.size());
  return result;
}

}  // namespace detail

}  // namespace llm
}  // namespace regionlm
