#pragma once
// Shared by the reader tests: the reference checkpoints written by write_checkpoints.py and
// byte-level helpers for crafting hostile files.
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace regionlm::test {

/// Directory with the checkpoints of tests/io/write_checkpoints.py (written once per process).
const std::filesystem::path& reference_checkpoints();
/// The parsed expected.json of that directory.
const nlohmann::json& reference_expected();
/// Checks that `tensor` has the dtype, shape and exact bytes that `expected` describes.
void expect_matches(const std::string& name, const torch::Tensor& tensor, const nlohmann::json& expected);

/// Writes raw bytes to a file.
void write_bytes(const std::filesystem::path& file, const std::string& bytes);
/// Reads a whole file.
std::string read_bytes(const std::filesystem::path& file);
/// A safetensors file image: 8-byte length, `header` verbatim, then `data`.
std::string safetensors_image(const std::string& header, const std::string& data);

/// Runs `fn`, expecting exception `E` whose message contains every one of `parts`.
template <class E, class Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> parts);

}  // namespace regionlm::test

#include <gtest/gtest.h>

namespace regionlm::test {

template <class E, class Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

}  // namespace regionlm::test
