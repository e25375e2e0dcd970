#include "server/work_queue.hpp"

#include "server/api_error.hpp"

namespace regionlm::server {

Job::Job(Work work, Clock::time_point deadline, bool streaming)
    : work_(std::move(work)), deadline_(deadline), streaming_(streaming) {}

void Job::ready() {
  std::lock_guard<std::mutex> lock(mutex_);
  ready_ = true;
  changed_.notify_all();
}

bool Job::emit(const std::string& piece) {
  if (cancelled_ || expired()) return false;
  if (streaming_ && !piece.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    pieces_.push_back(piece);
    changed_.notify_all();
  }
  return true;
}

void Job::end_locked() {
  if (done_) return;
  if (on_end_) on_end_();
  done_ = true;
  changed_.notify_all();
}

void Job::finish(nlohmann::json result) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  result_ = std::move(result);
  end_locked();
}

void Job::fail(std::exception_ptr error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  error_ = std::move(error);
  end_locked();
}

void Job::run() {
  try {
    if (expired()) {
      throw ApiError(500, "server_error", "", "timeout", "the request waited longer than the server's timeout");
    }
    work_(*this);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) {
      error_ = std::make_exception_ptr(ApiError(500, "server_error", "", "internal_error", "the request ended without a result"));
      end_locked();
    }
  } catch (...) {
    fail(std::current_exception());
  }
}

void Job::wait_started() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return ready_ || done_; });
}

void Job::wait_done() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return done_; });
}

bool Job::wait_done_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done_; });
}

bool Job::next_piece(std::string& piece) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !pieces_.empty() || done_; });
  if (pieces_.empty()) return false;
  piece = std::move(pieces_.front());
  pieces_.pop_front();
  return true;
}

bool Job::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_ != nullptr;
}

std::exception_ptr Job::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

const nlohmann::json& Job::result() const { return result_; }

WorkerPool::WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
}

WorkerPool::~WorkerPool() { shutdown(); }

std::shared_ptr<Job> WorkerPool::submit(Job::Work work, Clock::time_point deadline, bool streaming) {
  auto job = std::make_shared<Job>(std::move(work), deadline, streaming);
  job->on_end_ = [this] { --running_; };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw ApiError(503, "server_error", "", "shutting_down", "the server is shutting down");
    // Full when every worker is busy and max_queue_ jobs already wait for one.
    if (queue_.size() + running_.load() >= workers_.size() + max_queue_) {
      throw ApiError(429, "rate_limit_error", "", "queue_full",
                     "the server is busy: " + std::to_string(queue_.size()) + " requests are waiting; retry later");
    }
    queue_.push_back(job);
  }
  available_.notify_one();
  return job;
}

void WorkerPool::loop() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      available_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    job->run();  // its end decrements running_
  }
}

void WorkerPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  available_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
}

size_t WorkerPool::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

}  // namespace regionlm::server
