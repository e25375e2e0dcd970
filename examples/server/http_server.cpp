#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <new>
#include <random>

#include "regionlm/error.hpp"
#include "server/api_error.hpp"
#include "server/web_assets.hpp"

namespace regionlm::server {

using json = nlohmann::json;

namespace {

const char* kJson = "application/json";

json error_body(int status, const std::string& type, const std::string& param, const std::string& code,
                const std::string& message) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  if (e.status() == 429) res.set_header("Retry-After", "1");
  res.set_content(error_body(e.status(), e.type(), e.param(), e.code(), e.what()).dump(), kJson);
}

/// The port of a socket address (IPv4 or IPv6), -1 for another family.
int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return -1;
}

/// The accepted socket `req` arrived on, which cpp-httplib 0.11 does not expose: the open
/// descriptor whose own port and peer port are the request's (a connection's port pair is
/// unique while it is open, and it stays open while its handler runs). -1 when none matches.
int connection_socket(const httplib::Request& req) {
  std::error_code error;  // non-throwing iteration: descriptors come and go meanwhile
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end; it.increment(error)) {
    int fd = -1;
    try {
      fd = std::stoi(it->path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage local{}, peer{};
    socklen_t local_size = sizeof(local), peer_size = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0) continue;  // not a socket
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) continue;    // not connected
    if (port_of(local) == req.local_port && port_of(peer) == req.remote_port) return fd;
  }
  return -1;
}

/// Waits for a non-streamed job, cancelling its generation when the client closes the
/// connection first (it would otherwise run to max_tokens for nobody). A client that shuts
/// down only its sending side still counts as gone; HTTP clients keep both open while they
/// wait for a response.
void wait_while_connected(const httplib::Request& req, Job& job) {
  int fd = -2;  // looked up at the first check: most jobs end before it
  while (!job.wait_done_for(std::chrono::milliseconds(20))) {
    if (fd == -2) fd = connection_socket(req);
    if (fd < 0 || job.cancelled()) continue;
    pollfd watch{fd, POLLRDHUP, 0};
    if (poll(&watch, 1, 0) == 1 && (watch.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      job.cancel();  // the generation stops at its next token
      std::fprintf(stderr, "request from %s closed by the client\n", req.remote_addr.c_str());
    }
  }
}

/// Every exception a request can raise, as the ApiError the client gets.
ApiError as_api_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ApiError& e) {
    return e;
  } catch (const ArgumentError& e) {  // a region or prompt the library refuses
    return unprocessable("", e.what());
  } catch (const FormatError& e) {  // undecodable content
    return unprocessable("", e.what(), "invalid_content");
  } catch (const std::bad_alloc&) {
    return ApiError(500, "server_error", "", "out_of_memory", "the server ran out of memory for this request");
  } catch (const std::exception& e) {
    // First line only: LibTorch's messages go on with a C++ backtrace.
    const std::string message = e.what();
    return ApiError(500, "server_error", "", "internal_error", "internal error: " + message.substr(0, message.find('\n')));
  } catch (...) {
    return ApiError(500, "server_error", "", "internal_error", "internal error");
  }
}

/// Runs a handler body; whatever it throws becomes an error response.
template <typename F>
void guarded(httplib::Response& res, F f) {
  try {
    f();
  } catch (...) {
    send_error(res, as_api_error(std::current_exception()));
  }
}

std::string completion_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char id[48];
  std::snprintf(id, sizeof id, "chatcmpl-%08llx%08llx", static_cast<unsigned long long>(salt & 0xffffffff),
                static_cast<unsigned long long>(++counter));
  return id;
}

int64_t unix_time() { return static_cast<int64_t>(std::time(nullptr)); }

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string sse(const json& event) { return "data: " + event.dump() + "\n\n"; }

/// cpp-httplib listens with a backlog of 5: a burst of new connections (16 clients starting at
/// once) overflows it, and the dropped SYNs are retried by the clients' kernels a second later.
/// listen() on the bound socket again raises the backlog.
class WideBacklogServer : public httplib::Server {
 public:
  bool widen_backlog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

/// When the current request started (set before routing, read by the access log; one
/// connection is served by one thread at a time).
thread_local Clock::time_point request_start{};

}  // namespace

HttpServer::HttpServer(const Backend& backend, const ServerOptions& options)
    : backend_(backend),
      options_(options),
      pool_(options.threads, options.max_queue),
      http_(std::make_unique<WideBacklogServer>()) {
  // Connections beyond the workers wait in their own threads: enough for every queued request,
  // plus a few for /health, static files and quick 429 answers.
  const size_t connections = static_cast<size_t>(options.threads) + options.max_queue + 8;
  http_->new_task_queue = [connections] { return new httplib::ThreadPool(connections); };
  http_->set_payload_max_length(options.max_body_mb << 20);
  http_->set_read_timeout(options.read_timeout_s, 0);
  http_->set_keep_alive_max_count(1000);
  http_->set_keep_alive_timeout(5);
  // Small writes (each streamed token is one) go out at once instead of waiting for the
  // peer's delayed ACK (40 ms a response with Nagle's algorithm on).
  http_->set_tcp_nodelay(true);
  add_routes();
}

HttpServer::~HttpServer() { pool_.shutdown(); }

int HttpServer::bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
    if (port < 0) throw std::runtime_error("cannot bind " + options_.host + " on any port");
  } else if (!http_->bind_to_port(options_.host, port)) {
    throw std::runtime_error("cannot bind " + options_.host + ":" + std::to_string(port));
  }
  if (!static_cast<WideBacklogServer&>(*http_).widen_backlog()) {
    throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(port));
  }
  return port;
}

void HttpServer::listen() {
  http_->listen_after_bind();  // returns once stopped and every connection thread is done
  pool_.shutdown();
}

void HttpServer::stop() { http_->stop(); }

void HttpServer::authorize(const httplib::Request& req) const {
  if (options_.api_key.empty()) return;
  if (!constant_time_equal(req.get_header_value("Authorization"), "Bearer " + options_.api_key)) {
    throw ApiError(401, "authentication_error", "", "invalid_api_key",
                   "missing or wrong API key: send \"Authorization: Bearer <key>\"");
  }
}

Clock::time_point HttpServer::deadline() const {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
}

void HttpServer::add_routes() {
  httplib::Server& http = *http_;

  // Before routing only the clock starts: answering here (say, a 401) would leave the request
  // body unread on a keep-alive connection, to be misread as the next request.
  http.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_start = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Statuses httplib sets itself (404 no route, 413 body too large, 400 unreadable request)
  // get the same error object as ours.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        send_error(res, ApiError(404, "not_found_error", "", "not_found", "no route " + req.method + " " + req.path));
        break;
      case 413:
        // httplib caps form-encoded bodies (curl -d's default type) at 8 KiB whatever the limit.
        send_error(res, ApiError(413, "invalid_request_error", "", "payload_too_large",
                                 req.get_header_value("Content-Type").find("x-www-form-urlencoded") != std::string::npos
                                     ? "form-encoded bodies are limited to 8 KiB: send Content-Type: application/json"
                                     : "the request body is larger than the server's limit (--max-body-mb)"));
        break;
      default:
        send_error(res, ApiError(res.status, res.status >= 500 ? "server_error" : "invalid_request_error", "",
                                 "http_" + std::to_string(res.status),
                                 "the request could not be read (HTTP " + std::to_string(res.status) + ")"));
    }
  });

  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
    send_error(res, as_api_error(error));
  });

  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    const bool timed = request_start != Clock::time_point{};
    const double ms = timed ? std::chrono::duration<double, std::milli>(Clock::now() - request_start).count() : 0.0;
    const std::string size = res.is_chunked_content_provider_ ? "stream" : std::to_string(res.body.size()) + "B";
    std::fprintf(stderr, "%s %s \"%s %s\" %d %s %.1fms\n", stamp, req.remote_addr.c_str(), req.method.c_str(),
                 req.path.c_str(), res.status, size.c_str(), ms);
    request_start = {};
  });

  for (const WebAsset& asset : web_assets()) {
    http.Get(std::string(asset.path), [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.data.data(), asset.data.size(), std::string(asset.content_type).c_str());
    });
  }

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"status", "ok"}}.dump(), kJson);
  });
  http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      authorize(req);
      models(res);
    });
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      authorize(req);
      chat_completions(req, res);
    });
  });
  http.Post("/v1/regions/describe", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      authorize(req);
      describe_regions(req, res);
    });
  });
  http.Post("/v1/segment", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      authorize(req);
      segment(req, res);
    });
  });
}

void HttpServer::models(httplib::Response& res) const {
  const json meta = {{"sam", backend_.sam.has_value()},
                     {"image_tokens", backend_.model.image_token_count()},
                     {"context_length", backend_.model.decoder_config().max_position_embeddings},
                     {"family", to_string(backend_.model.family())}};
  const json model = {{"id", backend_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "regionlm"},
                      {"meta", meta}};
  res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(), kJson);
}

void HttpServer::chat_completions(const httplib::Request& req, httplib::Response& res) {
  auto request = std::make_shared<const ChatRequest>(parse_chat_request(parse_body(req.body)));
  const Backend& backend = backend_;
  auto job = pool_.submit([&backend, request](Job& job) { run_chat(backend, *request, job); }, deadline(),
                          request->stream);
  const std::string id = completion_id();
  const int64_t created = unix_time();
  const std::string model = backend_.model_id;
  if (!request->stream) {
    wait_while_connected(req, *job);
    if (job->failed()) std::rethrow_exception(job->error());
    const json& r = job->result();
    const json choice = {{"index", 0},
                         {"message",
                          {{"role", "assistant"},
                           {"content", r["content"]},
                           {"refusal", nullptr},
                           {"mentions", r["mentions"]},  // regionlm's: the regions the answer names
                           {"notes", r["notes"]}}},      // regionlm's: how regions were adapted
                         {"logprobs", nullptr},
                         {"finish_reason", r["finish_reason"]}};
    res.set_content(json{{"id", id},
                         {"object", "chat.completion"},
                         {"created", created},
                         {"model", model},
                         {"choices", json::array({choice})},
                         {"usage", r["usage"]},
                         {"system_fingerprint", nullptr},
                         {"timings", r["timings"]}}
                        .dump(),
                    kJson);
    return;
  }

  job->wait_started();  // until here a failure is still a plain HTTP error
  if (job->failed()) std::rethrow_exception(job->error());
  const bool include_usage = request->include_usage;
  // One chat.completion.chunk event; with include_usage every chunk carries "usage": null but
  // the last one, which has no choices and the usage.
  const auto event = [id, created, model, include_usage](json choices, json usage) {
    json chunk = {{"id", id},         {"object", "chat.completion.chunk"}, {"created", created},
                  {"model", model},   {"system_fingerprint", nullptr},     {"choices", std::move(choices)}};
    if (include_usage) chunk["usage"] = std::move(usage);
    return sse(chunk);
  };
  const auto choice = [](json delta, json finish_reason) {
    return json::array(
        {{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish_reason)}}});
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, event, choice, include_usage, peer = req.remote_addr](size_t, httplib::DataSink& sink) {
        const auto write = [&](const std::string& text) {
          if (sink.write(text.data(), text.size())) return true;
          job->cancel();  // the client is gone: the generation stops at its next token
          std::fprintf(stderr, "stream to %s closed by the client\n", peer.c_str());
          return false;
        };
        if (!write(event(choice({{"role", "assistant"}, {"content", ""}}, nullptr), nullptr))) return false;
        std::string piece;
        while (job->next_piece(piece)) {
          if (!write(event(choice({{"content", piece}}, nullptr), nullptr))) return false;
        }
        job->wait_done();
        if (job->failed()) {
          const ApiError e = as_api_error(job->error());
          if (!write(sse(error_body(e.status(), e.type(), e.param(), e.code(), e.what())))) return false;
        } else {
          const json& r = job->result();
          if (!write(event(choice(json::object(), r["finish_reason"]), nullptr))) return false;
          if (include_usage && !write(event(json::array(), r["usage"]))) return false;
        }
        if (!write("data: [DONE]\n\n")) return false;
        sink.done();
        return true;
      },
      [job](bool success) {
        if (!success) job->cancel();
      });
}

void HttpServer::describe_regions(const httplib::Request& req, httplib::Response& res) {
  auto request = std::make_shared<const DescribeRequest>(parse_describe_request(parse_body(req.body)));
  if (request->everything && !backend_.sam) {
    throw invalid_request("everything", "\"everything\" needs Segment Anything: start the server with --sam PATH",
                          "sam_not_loaded");
  }
  const Backend& backend = backend_;
  auto job = pool_.submit([&backend, request](Job& job) { run_describe(backend, *request, job); }, deadline(), false);
  wait_while_connected(req, *job);
  if (job->failed()) std::rethrow_exception(job->error());
  res.set_content(job->result().dump(), kJson);
}

void HttpServer::segment(const httplib::Request& req, httplib::Response& res) {
  auto request = std::make_shared<const SegmentRequest>(parse_segment_request(parse_body(req.body)));
  if (!backend_.sam) {
    throw invalid_request("", "/v1/segment needs Segment Anything: start the server with --sam PATH", "sam_not_loaded");
  }
  const Backend& backend = backend_;
  auto job = pool_.submit([&backend, request](Job& job) { run_segment(backend, *request, job); }, deadline(), false);
  wait_while_connected(req, *job);
  if (job->failed()) std::rethrow_exception(job->error());
  res.set_content(job->result().dump(), kJson);
}

}  // namespace regionlm::server
