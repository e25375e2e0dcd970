#pragma once
// Requests waiting for the model, and the worker threads that serve them. A request becomes a
// Job: the HTTP thread submits it (429 when the queue is full) and waits; a worker runs its
// work function, which streams pieces through the job and ends it with a result or an error.
// The HTTP thread learns whether the request was accepted (`ready`) before it commits to a
// status, so validation errors are real HTTP errors even for streamed answers.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace regionlm::server {

using Clock = std::chrono::steady_clock;

class Job {
 public:
  using Work = std::function<void(Job&)>;
  Job(Work work, Clock::time_point deadline, bool streaming);

  // ---- worker side --------------------------------------------------------------------------
  /// The request passed every check; what follows is generation.
  void ready();
  /// A piece of the answer (kept for the HTTP thread when streaming). Returns false when the
  /// generation should stop: the client went away or the deadline passed.
  bool emit(const std::string& piece);
  void finish(nlohmann::json result);
  void fail(std::exception_ptr error);
  bool expired() const { return Clock::now() > deadline_; }
  bool cancelled() const { return cancelled_.load(); }
  void run();  // work_(*this), errors into fail()

  // ---- HTTP side ----------------------------------------------------------------------------
  /// Blocks until ready() or the end of the job.
  void wait_started();
  /// Blocks until the end of the job.
  void wait_done();
  /// Blocks until the end of the job or for `timeout`; true when it has ended.
  bool wait_done_for(std::chrono::milliseconds timeout);
  /// Next streamed piece; false once the job has ended and every piece was taken.
  bool next_piece(std::string& piece);
  /// Stops the generation at its next token (the client is gone).
  void cancel() { cancelled_ = true; }
  bool failed() const;
  std::exception_ptr error() const;
  const nlohmann::json& result() const;  // valid after the end, when not failed

 private:
  friend class WorkerPool;
  void end_locked();  // the job's end: on_end_, then wake the HTTP thread (mutex_ held)
  std::function<void()> on_end_;  // set by the pool: frees the worker's slot before anyone is woken

  Work work_;
  const Clock::time_point deadline_;
  const bool streaming_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool ready_ = false;
  bool done_ = false;
  std::deque<std::string> pieces_;
  nlohmann::json result_;
  std::exception_ptr error_;
};

class WorkerPool {
 public:
  /// `threads` workers; at most `max_queue` jobs wait while all of them are busy (more is a 429).
  WorkerPool(int threads, size_t max_queue);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues a job. Throws ApiError 429 (code "queue_full") when every worker is busy and
  /// `max_queue` jobs already wait.
  std::shared_ptr<Job> submit(Job::Work work, Clock::time_point deadline, bool streaming);
  /// Runs what is queued, then joins the workers.
  void shutdown();

  size_t waiting() const;
  size_t running() const { return running_.load(); }

 private:
  void loop();

  const size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::atomic<size_t> running_{0};
  std::vector<std::thread> workers_;
};

}  // namespace regionlm::server
