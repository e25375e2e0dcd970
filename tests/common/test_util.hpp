#pragma once
// Helpers shared by all regionlm tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace regionlm::test {

/// The repository root.
std::filesystem::path source_dir();
/// Reference fixtures: $REGIONLM_FIXTURES, default ../shared/fixtures beside the repository.
std::filesystem::path fixtures_dir();
/// Every fixture file `<family>*.safetensors` (e.g. family "extractor-"), sorted. Callers must
/// fail when it is empty: a parity family without cases is an error, not a pass.
std::vector<std::filesystem::path> find_fixtures(const std::string& family);
/// The venv's Python ($REGIONLM_PYTHON, default <repo>/.venv/bin/python).
std::string python();
/// Runs `python <script> <args...>` (script relative to the repository root unless
/// absolute); returns its stdout; throws std::runtime_error with stderr/stdout on failure.
std::string run_python(const std::string& script, const std::vector<std::string>& args = {});
/// A fresh, empty scratch directory unique to this call (under the build tree).
std::filesystem::path scratch_dir(const std::string& name);
/// Runs a shell command, returns {exit code, combined stdout+stderr}.
std::pair<int, std::string> run_command(const std::string& command);
/// Shell-quotes one argument.
std::string shell_quote(const std::string& s);

/// The message of the E that `call` throws; a test failure and an empty message when it
/// throws none.
template <typename E, typename F>
std::string error_of(F&& call) {
  try {
    call();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception of the tested type";
  return {};
}

}  // namespace regionlm::test
