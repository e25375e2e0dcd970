#pragma once
// Continuous batching of independent generations over one Llama: calls from many threads
// join one running decode batch between its steps and leave it as soon as they finish.
// Every step runs the linear layers once for all rows (weights are read once per step instead
// of once per row), while each row keeps its own KVCache and attention, so a row's tokens
// are those it would get alone (greedy; logits equal up to float reduction order). Rows that
// continue one shared image prefix read it once per step for all of them.
//
// Each caller prefills its own prompt on its own thread (concurrent prefills run side by side),
// then hands the row to the one worker thread that owns the batch: it chooses the row's first
// token and runs decode steps for every active row. Callers block in generate() until their
// row is done.
// GenerationOptions::on_step runs on the worker thread and must not call into the same model
// (a call from the worker thread itself bypasses the batch, so it cannot deadlock, but it
// stalls every row while it runs).
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "regionlm/llm/batcher_stats.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama.hpp"

namespace regionlm::llm {

struct BatcherOptions {
  int64_t max_rows = 16;  // rows decoded together at most (>= 1); later calls wait for a free row; default 16
};

class Batcher {
 public:
  /// Starts the worker thread. Throws ArgumentError when max_rows < 1.
  Batcher(Llama model, const BatcherOptions& options = {});
  /// Finishes every accepted call, then stops the worker.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// llm::generate for one row (cache.batch() == 1), decoded in the shared batch; blocks
  /// until the row is done and returns what llm::generate would (Timings: this row's prefill
  /// and decode wall times). Thread-safe. A cache of several rows, or a call from the worker
  /// thread (inside on_step), runs llm::generate directly. Errors of the inputs are thrown
  /// before joining; an error while decoding is rethrown to every row of that step.
  GenerationResult generate(KVCache& cache, const torch::Tensor& prompt_embeds, const GenerationOptions& options,
                            const DecodeSetup& setup) const;

  /// Rows in the running batch plus calls waiting to join (a snapshot, for monitoring).
  int64_t load() const;
  BatcherStats stats() const;
  const BatcherOptions& options() const { return options_; }

 private:
  struct Request;
  void run();
  bool start(Request& request) const;    // first token; false when already finished
  void finish(Request& request) const;   // completes the caller's call
  void step(std::vector<std::shared_ptr<Request>>& active) const;  // one decode step
  void release() const;  // one admitted row fewer (before its caller is woken)

  Llama model_;
  BatcherOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::deque<std::shared_ptr<Request>> pending_;
  mutable int64_t active_rows_ = 0;
  mutable BatcherStats stats_;
  bool stop_ = false;
  std::thread worker_;  // last: started once everything above exists
};

}  // namespace regionlm::llm
