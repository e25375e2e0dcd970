#pragma once
// The Python reference run for the GPT4RoI tests (gpt4roi_reference.py): a small random
// GPT4RoI model (CLIP directory + checkpoint), a scene, the cases and their reference
// outputs. Computed once per build tree and script version, shared by every test process.
#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "reference_run.hpp"

namespace regionlm::test {

struct Gpt4roiReference : ReferenceRun {
  std::filesystem::path model;  // the GPT4RoI checkpoint directory
  std::filesystem::path clip;   // the CLIP vision tower directory
  std::filesystem::path image;  // scene.png

  const nlohmann::json& cases() const { return root.at("cases"); }
  /// The case's boxes in pixels, [K, 4] float64 rows as the JSON holds them.
  std::vector<std::array<double, 4>> boxes(const nlohmann::json& c) const;
};

/// Runs the reference the first time (about 15 s), later returns the cached result.
const Gpt4roiReference& gpt4roi_reference();

}  // namespace regionlm::test
