#include "regionlm/llm/batcher.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <future>

#include "llm/generation_row.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/sampler.hpp"

namespace regionlm::llm {

using detail::Clock;
using detail::elapsed_ms;

/// One caller's row, from arrival to its result.
struct Batcher::Request {
  Request(KVCache& c, torch::Device d, const GenerationOptions& o, const DecodeSetup& s)
      : cache(c), device(d), options(o), setup(s), row(o.stop_strings, s.make_decoder()) {}
  KVCache& cache;                    // the caller's (it waits in generate() while we use it)
  torch::Device device;              // the prompt's (not the prompt itself: it is dropped after prefill)
  torch::Tensor prefill_logits;      // [1, 1, V]: the prompt's last position, computed by the caller
  const GenerationOptions& options;  // the caller's
  const DecodeSetup& setup;          // the caller's
  detail::RowState row;
  std::unique_ptr<Sampler> sampler;
  std::promise<GenerationResult> result;
  Timings timings;
  int64_t max_tokens = 0;  // tokens this row may generate (its cache's room)
  int64_t next_id = 0;     // the token to feed at the next step
  Clock::time_point decode_start;
  int64_t decode_forwards = 0;
};

Batcher::Batcher(Llama model, const BatcherOptions& options) : model_(std::move(model)), options_(options) {
  if (options_.max_rows < 1) {
    throw ArgumentError("BatcherOptions.max_rows must be >= 1, got " + std::to_string(options_.max_rows));
  }
  worker_ = std::thread([this] { run(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

int64_t Batcher::load() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_rows_ + static_cast<int64_t>(pending_.size());
}

void Batcher::release() const {
  std::lock_guard<std::mutex> lock(mutex_);
  --active_rows_;
}

BatcherStats Batcher::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

GenerationResult Batcher::generate(KVCache& cache, const torch::Tensor& prompt_embeds,
                                   const GenerationOptions& options, const DecodeSetup& setup) const {
  if (cache.batch() != 1 || std::this_thread::get_id() == worker_.get_id()) {
    return std::move(llm::generate(model_, cache, prompt_embeds, options, setup).front());
  }
  detail::check_inputs(model_, cache, prompt_embeds, options, setup);
  auto request = std::make_shared<Request>(cache, prompt_embeds.device(), options, setup);
  // The prompt is prefilled here, on the caller's thread, while the worker decodes the others:
  // prefills of concurrent callers run side by side instead of stalling every row in turn.
  {
    c10::InferenceMode inference;
    const auto prefill_start = Clock::now();
    request->prefill_logits = model_->forward(prompt_embeds, cache, /*last_only=*/true);  // [1, 1, V]
    request->timings.prefill_ms = elapsed_ms(prefill_start);
    request->timings.prompt_tokens = prompt_embeds.size(1);
  }
  std::future<GenerationResult> result = request->result.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(request);
  }
  wake_.notify_one();
  return result.get();
}

void Batcher::run() {
  c10::InferenceMode inference;
  std::vector<std::shared_ptr<Request>> active;
  for (;;) {
    std::vector<std::shared_ptr<Request>> arrived;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !pending_.empty() || !active.empty(); });
      if (stop_ && pending_.empty() && active.empty()) return;
      while (!pending_.empty() && static_cast<int64_t>(active.size() + arrived.size()) < options_.max_rows) {
        arrived.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      active_rows_ += static_cast<int64_t>(arrived.size());
      stats_.requests += static_cast<int64_t>(arrived.size());
    }
    for (auto& request : arrived) {
      try {
        if (start(*request)) {
          active.push_back(request);
        } else {
          finish(*request);
        }
      } catch (...) {
        release();
        request->result.set_exception(std::current_exception());
      }
    }
    if (active.empty()) continue;
    try {
      step(active);
    } catch (...) {
      for (auto& request : active) {
        release();
        request->result.set_exception(std::current_exception());
      }
      active.clear();
    }
  }
}

bool Batcher::start(Request& r) const {  // the first token, from the caller's prefill
  const int64_t vocab = model_->config().vocab_size;
  r.sampler = std::make_unique<Sampler>(r.options, 1, vocab, r.device);
  if (!r.setup.penalty_context.empty()) {
    r.sampler->observe(torch::tensor(r.setup.penalty_context, torch::kLong).unsqueeze(0));  // [1, N]
  }
  const auto choice_start = Clock::now();
  const int64_t id = r.sampler->next(r.prefill_logits.select(1, 0)).item<int64_t>();
  r.prefill_logits = torch::Tensor();
  r.timings.prefill_ms += elapsed_ms(choice_start);
  // As llm::generate: every token but the last is fed back (the last too with cache_final_token).
  r.max_tokens = std::min(r.options.max_new_tokens, r.cache.remaining() + (r.setup.cache_final_token ? 0 : 1));
  r.decode_start = Clock::now();
  if (r.max_tokens <= 0) return false;
  detail::accept_token(r.row, 0, id, r.max_tokens, r.options, r.setup.eos_token_id);
  r.next_id = id;
  return !r.row.done;
}

void Batcher::finish(Request& r) const {
  if (r.setup.cache_final_token && r.max_tokens > 0) {
    const auto ids = torch::full({1, 1}, r.row.tokens.back(), torch::TensorOptions().dtype(torch::kLong).device(
                                                                   r.device));  // [1, 1]
    model_->model->forward(model_->model->embed_tokens->forward(ids), r.cache);
    ++r.decode_forwards;
  }
  r.timings.decode_ms = elapsed_ms(r.decode_start);
  if (r.decode_forwards > 0 && r.timings.decode_ms > 0) {
    r.timings.decode_tokens_per_second = r.decode_forwards * 1000.0 / r.timings.decode_ms;
  }
  GenerationResult result = detail::finish_row(r.row, r.timings);
  release();  // before the caller wakes: load() never counts a returned call
  r.result.set_value(std::move(result));
}

void Batcher::step(std::vector<std::shared_ptr<Request>>& active) const {
  std::vector<int64_t> ids;
  std::vector<KVCache*> caches;
  for (const auto& r : active) {
    ids.push_back(r->next_id);
    caches.push_back(&r->cache);
  }
  const auto device = active.front()->device;
  const auto feed = torch::tensor(ids, torch::kLong).view({-1, 1}).to(device);                // [B, 1]
  const auto logits = model_->forward_rows(model_->model->embed_tokens->forward(feed), caches);  // [B, 1, V]
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t rows = static_cast<int64_t>(active.size());
    ++stats_.steps;
    stats_.row_steps += rows;
    stats_.largest_step = std::max(stats_.largest_step, rows);
  }
  // Plain greedy rows share one argmax; the others go through their own sampler.
  const auto last = logits.select(1, 0);  // [B, V]
  const int64_t B = last.size(0);
  std::vector<int64_t> plain, sampled;
  for (int64_t i = 0; i < B; ++i) {
    (active[static_cast<size_t>(i)]->sampler->plain_argmax() ? plain : sampled).push_back(i);
  }
  torch::Tensor chosen;  // [B] int64 on the device
  if (sampled.empty()) {
    chosen = last.argmax(-1);
  } else {
    chosen = torch::empty({B}, torch::TensorOptions(torch::kLong).device(device));
    if (!plain.empty()) {
      const auto rows = torch::tensor(plain, torch::kLong).to(device);  // [G]
      chosen.index_copy_(0, rows, last.index_select(0, rows).argmax(-1));
    }
    for (const int64_t i : sampled) {
      chosen.narrow(0, i, 1).copy_(active[static_cast<size_t>(i)]->sampler->next(last.narrow(0, i, 1)));  // [1]
    }
  }
  const auto host = chosen.to(torch::kCPU);  // [B], one transfer for all rows
  const auto* next = host.data_ptr<int64_t>();
  std::vector<std::shared_ptr<Request>> still;
  for (size_t i = 0; i < active.size(); ++i) {
    Request& r = *active[i];
    try {
      ++r.decode_forwards;
      detail::accept_token(r.row, 0, next[i], r.max_tokens, r.options, r.setup.eos_token_id);
      r.next_id = next[i];
      if (!r.row.done) {
        still.push_back(active[i]);
        continue;
      }
      finish(r);
    } catch (...) {  // this row's on_step or final forward: the other rows go on
      release();
      r.result.set_exception(std::current_exception());
    }
  }
  active.swap(still);
}

}  // namespace regionlm::llm
