#include "server_test_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_util.hpp"

namespace fs = std::filesystem;

namespace regionlm::server::test {

namespace {

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

ServerProcess::ServerProcess(const std::vector<std::string>& arguments, const std::string& name) {
  log_file_ = regionlm::test::scratch_dir("server-" + name) / "server.log";
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv_strings = {REGIONLM_SERVER_BIN, "--host", "127.0.0.1", "--port", "0"};
  argv_strings.insert(argv_strings.end(), arguments.begin(), arguments.end());
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls (this process has other threads).
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int err = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    close(out[0]);
    close(out[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err);
  close(out[1]);
  // Wait for "listening on http://127.0.0.1:PORT" (model loading takes a few seconds).
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  char c;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    if (read(out[0], &c, 1) != 1) break;
    if (c != '\n') {
      line += c;
      continue;
    }
    std::smatch m;
    if (std::regex_match(line, m, std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"))) {
      port_ = std::stoi(m[1]);
      break;
    }
    line.clear();
  }
  close(out[0]);
  if (port_ == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("regionlm-server did not start; its log:\n" + log());
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::unique_ptr<httplib::Client> ServerProcess::client() const {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
  client->set_read_timeout(120, 0);
  client->set_write_timeout(60, 0);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  return client;
}

long ServerProcess::rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string ServerProcess::log() const { return read_file(log_file_); }

int ServerProcess::stop(int signal, double timeout_s) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

fs::path model_dir() { return regionlm::test::source_dir() / "models" / "tiny-shapes"; }
fs::path scene_dir() { return regionlm::test::source_dir() / "examples" / "data" / "tiny-shapes-scene"; }

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string data_url(const std::string& bytes, const std::string& media) {
  return "data:" + media + ";base64," + base64(bytes);
}

std::string png_bytes(const cv::Mat& image) {
  std::vector<uchar> buffer;
  if (!cv::imencode(".png", image, buffer)) throw std::runtime_error("imencode failed");
  return std::string(buffer.begin(), buffer.end());
}

nlohmann::json Reply::json() const {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << body.substr(0, 300);
  return parsed;
}

std::string Reply::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

namespace {
Reply to_reply(const httplib::Result& result, const std::string& what) {
  Reply reply;
  if (!result) {
    ADD_FAILURE() << what << ": transport error " << httplib::to_string(result.error());
    return reply;
  }
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}
}  // namespace

Reply post(httplib::Client& client, const std::string& path, const nlohmann::json& body, const httplib::Headers& headers) {
  return post_raw(client, path, body.dump(), "application/json", headers);
}

Reply post_raw(httplib::Client& client, const std::string& path, const std::string& body,
               const std::string& content_type, const httplib::Headers& headers) {
  return to_reply(client.Post(path, headers, body, content_type), "POST " + path);
}

Reply get(httplib::Client& client, const std::string& path, const httplib::Headers& headers) {
  return to_reply(client.Get(path, headers), "GET " + path);
}

std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    const std::string event = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (event.rfind("data: ", 0) == 0) events.push_back(event.substr(6));
    if (end == std::string::npos) break;
    at = end + 2;
  }
  return events;
}

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
}

RawConnection::~RawConnection() { close(); }

bool RawConnection::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string RawConnection::receive_until(const std::string& marker, double timeout_s) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    if (!marker.empty() && out.find(marker) != std::string::npos) break;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

std::string RawConnection::receive_all(double timeout_s) { return receive_until("", timeout_s); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace regionlm::server::test
