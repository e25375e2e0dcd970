#pragma once
// A Python reference run shared by a test folder's processes: a script writes its models,
// cases.json and reference.safetensors into a directory, once per build tree and version of
// the scripts (the directory is named after a hash of their text and published by an atomic
// rename, so concurrent test processes never see half of it).
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/io/weights.hpp"

namespace regionlm::test {

struct ReferenceRun {
  std::filesystem::path dir;  // everything the script wrote lives here
  nlohmann::json root;        // cases.json
  Weights tensors;            // reference.safetensors

  /// dir / the relative path cases.json stores under `key` (e.g. "model", "image").
  std::filesystem::path path(const std::string& key) const;
  /// The entry of cases.json's "cases" list whose "name" is `name` (std::runtime_error if none).
  const nlohmann::json& find_case(const std::string& name) const;
  torch::Tensor tensor(const std::string& key) const { return tensors.get(key); }
  /// An integer tensor of reference.safetensors as int64 values.
  std::vector<int64_t> ids(const std::string& key) const;
};

/// The run named `name` of `scripts` (repository-relative; the first one is run as
/// `python scripts[0] <dir> args...`), made the first time and reused afterwards.
ReferenceRun reference_run(const std::string& name, const std::vector<std::string>& scripts,
                           const std::vector<std::string>& args = {});

/// Largest absolute difference of two tensors of any dtype / device, in float32.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32).cpu() - b.to(torch::kFloat32).cpu()).abs().max().item<double>();
}

}  // namespace regionlm::test
