#pragma once
// The HTTP side of regionlm-server: routes, authentication, limits, OpenAI-style errors,
// server-sent events and the access log, on cpp-httplib. Inference happens in inference.cpp on
// the WorkerPool's threads; this file only parses, queues, waits and writes.
#include <cstddef>
#include <memory>
#include <string>

#include "server/inference.hpp"
#include "server/work_queue.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace regionlm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // --host: address to bind; default loopback only
  int port = 8080;                 // --port; 0 = any free port (printed)
  int threads = 2;                 // --threads: requests answered at once (worker threads); default
                                   // max(2, --batch) in regionlm-server
  size_t max_queue = 16;           // --max-queue: requests waiting for a worker beyond those; more = 429
  std::string api_key;             // --api-key: required as "Authorization: Bearer KEY" on /v1/*; "" = none
  size_t image_cache_mb = 512;     // --image-cache-mb: LRU budget of decoded/encoded images, MiB
  double timeout_s = 300;          // --timeout: per request, queueing included, s
  size_t max_body_mb = 32;         // --max-body-mb: larger request bodies get 413, MiB
  int read_timeout_s = 10;         // --read-timeout: a client that stops sending its request, s
};

class HttpServer {
 public:
  HttpServer(const Backend& backend, const ServerOptions& options);
  ~HttpServer();

  /// Binds host:port (port 0 = any); returns the port. Throws std::runtime_error when it cannot.
  int bind();
  /// Serves until stop(); returns after in-flight requests have been answered.
  void listen();
  /// Stops accepting; safe from any thread, any number of times.
  void stop();

 private:
  void add_routes();
  /// 401 unless the request carries the API key (when the server has one).
  void authorize(const httplib::Request& req) const;
  Clock::time_point deadline() const;  // of a request arriving now
  // The endpoints (each throws ApiError and friends; add_routes turns them into responses).
  void models(httplib::Response& res) const;
  void chat_completions(const httplib::Request& req, httplib::Response& res);
  void describe_regions(const httplib::Request& req, httplib::Response& res);
  void segment(const httplib::Request& req, httplib::Response& res);

  const Backend& backend_;
  const ServerOptions options_;
  WorkerPool pool_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace regionlm::server
