#pragma once
// The scene of bench_compare_reference.py's checkpoint directory, shared by the benchmarks that
// run on it (bench_compare, bench_batching).
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/region/region.hpp"

namespace regionlm::bench {

constexpr int kSceneMasks = 8;  // masks in the directory (bench_compare_reference.NUM_REGIONS)

/// DIR/mask0.png .. mask7.png as regions; IoError naming a file that cannot be read.
inline std::vector<Region> scene_regions(const std::filesystem::path& dir) {
  std::vector<Region> regions;
  for (int k = 0; k < kSceneMasks; ++k) {
    const std::filesystem::path path = dir / ("mask" + std::to_string(k) + ".png");
    const cv::Mat mask = cv::imread(path.string(), cv::IMREAD_GRAYSCALE);
    if (mask.empty()) throw IoError("cannot read mask image " + path.string());
    regions.push_back(Region::from_mask(mask));
  }
  return regions;
}

}  // namespace regionlm::bench
