#pragma once
// The Python reference run for the GPT4RoI tests (gpt4roi_reference.py): a small random
// GPT4RoI model (CLIP directory + checkpoint), a scene, the cases and their reference
// outputs. Computed once per build tree and script version, shared by every test process.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/io/weights.hpp"

namespace regionlm::test {

struct Gpt4roiReference {
  std::filesystem::path dir;    // everything below lives here
  std::filesystem::path model;  // the GPT4RoI checkpoint directory
  std::filesystem::path clip;   // the CLIP vision tower directory
  std::filesystem::path image;  // scene.png
  nlohmann::json root;          // cases.json
  Weights tensors;              // reference.safetensors

  const nlohmann::json& cases() const { return root.at("cases"); }
  const nlohmann::json& find_case(const std::string& name) const;
  torch::Tensor tensor(const std::string& key) const { return tensors.get(key); }
  std::vector<int64_t> ids(const std::string& key) const;
  /// The case's boxes in pixels, [K, 4] float64 rows as the JSON holds them.
  std::vector<std::array<double, 4>> boxes(const nlohmann::json& c) const;
};

/// Runs the reference the first time (about 15 s), later returns the cached result.
const Gpt4roiReference& gpt4roi_reference();

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32).cpu() - b.to(torch::kFloat32).cpu()).abs().max().item<double>();
}

}  // namespace regionlm::test
