#include "test_util.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace regionlm::test {

fs::path source_dir() { return fs::path(REGIONLM_SOURCE_DIR); }

fs::path fixtures_dir() {
  if (const char* env = std::getenv("REGIONLM_FIXTURES"); env && *env) return fs::path(env);
  return fs::path(REGIONLM_DEFAULT_FIXTURES);
}

std::vector<fs::path> find_fixtures(const std::string& family) {
  std::vector<fs::path> out;
  const fs::path dir = fixtures_dir();
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(family, 0) == 0 && entry.path().extension() == ".safetensors") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string python() {
  if (const char* env = std::getenv("REGIONLM_PYTHON"); env && *env) return env;
  return REGIONLM_DEFAULT_PYTHON;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::pair<int, std::string> run_command(const std::string& command) {
  const std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::string output;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, output};
}

std::string run_python(const std::string& script, const std::vector<std::string>& args) {
  fs::path path(script);
  if (path.is_relative()) path = source_dir() / path;
  std::string cmd = shell_quote(python()) + " " + shell_quote(path.string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  const fs::path err = scratch_dir("python-stderr") / "stderr.txt";
  cmd += " 2>" + shell_quote(err.string());
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + cmd);
  std::string output;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string err_text;
    if (FILE* f = fopen(err.c_str(), "r")) {
      while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) err_text.append(buf.data(), n);
      fclose(f);
    }
    throw std::runtime_error("python failed: " + cmd + "\nstdout:\n" + output +
                             "\nstderr:\n" + err_text);
  }
  return output;
}

fs::path scratch_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::path(REGIONLM_TEST_TMP) /
                       (name + "-" + std::to_string(::getpid()) + "-" +
                        std::to_string(counter.fetch_add(1)));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace regionlm::test
