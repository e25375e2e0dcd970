#pragma once
// Helpers of the regionlm-server tests: the server as a child process on a free loopback port,
// HTTP requests, Server-Sent Events parsing, the bundled scene as data URLs.
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace regionlm::server::test {

/// regionlm-server started with `arguments` (plus --port 0 and --host 127.0.0.1); ready when
/// it printed "listening on http://127.0.0.1:PORT". Killed (SIGKILL) if still running when
/// destroyed.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& arguments, const std::string& name);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// A client for this server (keep-alive; generous timeouts).
  std::unique_ptr<httplib::Client> client() const;
  /// Resident memory, KiB (/proc/PID/status VmRSS).
  long rss_kib() const;
  /// Everything the server wrote to stderr so far (the access log).
  std::string log() const;
  /// Sends `signal` and waits (up to `timeout_s`) for the exit; returns the exit status, or
  /// -1 when it had to be killed.
  int stop(int signal, double timeout_s = 30);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::filesystem::path log_file_;
};

/// The models/tiny-shapes directory and the bundled scene (image, masks).
std::filesystem::path model_dir();
std::filesystem::path scene_dir();
std::string read_file(const std::filesystem::path& file);
/// data:image/png;base64,... of a file's bytes (or of bytes directly).
std::string data_url(const std::string& bytes, const std::string& media = "image/png");
std::string png_bytes(const cv::Mat& image);  // BGR or gray cv::Mat -> PNG file bytes

/// POST of a JSON body; the response (status + body), failing the test on a transport error.
struct Reply {
  int status = 0;
  std::string body;
  nlohmann::json json() const;  // parsed body (test failure when not JSON)
  std::string header(const std::string& name) const;
  httplib::Headers headers;
};
Reply post(httplib::Client& client, const std::string& path, const nlohmann::json& body,
           const httplib::Headers& headers = {});
Reply post_raw(httplib::Client& client, const std::string& path, const std::string& body,
               const std::string& content_type = "application/json", const httplib::Headers& headers = {});
Reply get(httplib::Client& client, const std::string& path, const httplib::Headers& headers = {});

/// The `data:` payloads of a text/event-stream body, in order.
std::vector<std::string> sse_events(const std::string& body);

/// A raw TCP connection to 127.0.0.1:port (for requests no HTTP client would send).
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  bool send(const std::string& bytes);
  /// Reads until the peer closes or `timeout_s` passes; returns what arrived.
  std::string receive_all(double timeout_s);
  /// Reads until `marker` has arrived (or timeout/close).
  std::string receive_until(const std::string& marker, double timeout_s);
  void close();

 private:
  int fd_ = -1;
};

}  // namespace regionlm::server::test
