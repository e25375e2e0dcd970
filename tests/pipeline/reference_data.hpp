#pragma once
// The Python reference run (osprey_reference.py): a small random Osprey checkpoint in the
// published layout, a scene with three masks, the cases and their reference outputs.
// Computed once per build tree and script version and shared by every test process.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "reference_run.hpp"
#include "regionlm/region/region.hpp"

namespace regionlm::test {

struct ReferenceData : ReferenceRun {
  std::filesystem::path model;          // vision weights inside the shards
  std::filesystem::path model_clipfile; // vision weights only in the mm_vision_tower file
  std::filesystem::path image;          // scene.png
  std::vector<std::filesystem::path> masks;  // mask{0,1,2}.png at the image's size
  nlohmann::json cases;                 // see osprey_reference.cases()

  /// Regions of a case: Region::from_mask of the listed mask files, in order.
  std::vector<Region> regions(const nlohmann::json& indices) const;
};

/// Runs the reference the first time (about 10 s), later returns the cached result.
const ReferenceData& reference();

}  // namespace regionlm::test
