// Region inputs: RLE sizes against their counts and limits::kMaxImage*, COCO region JSON
// (RLE, polygons, annotations), and the number of regions (limits::kMaxRegions).
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/region/coco_json.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/region/rle.hpp"
#include "test_util.hpp"

using regionlm::test::error_of;

namespace {

using regionlm::ArgumentError;
using regionlm::FormatError;
using regionlm::Region;
namespace limits = regionlm::limits;

TEST(RegionLimits, TinyRleDeclaringFourGigapixelsIsRefusedBeforeAllocating) {
  // Two runs covering 65535 x 65535 pixels: a few bytes of input for a 4 GB mask.
  const std::string counts = regionlm::rle_counts_to_string({0, 65535u * 65535u});
  EXPECT_LT(counts.size(), 16u);
  const std::string message = error_of<regionlm::Error>([&] { regionlm::rle_decode(counts, 65535, 65535); });
  EXPECT_NE(message.find("RLE size 65535x65535"), std::string::npos) << message;
  EXPECT_NE(message.find("limits::kMaxImagePixels"), std::string::npos) << message;
  EXPECT_THROW(regionlm::rle_counts_to_mask({0, 65535u * 65535u}, 65535, 65535), ArgumentError);
}

TEST(RegionLimits, RleCountsMustCoverTheDeclaredSizeExactly) {
  EXPECT_THROW(regionlm::rle_counts_to_mask({3, 4}, 2, 4), ArgumentError);  // 7 of 8 pixels
  EXPECT_THROW(regionlm::rle_counts_to_mask({3, 6}, 2, 4), ArgumentError);  // 9 of 8
  const cv::Mat mask = regionlm::rle_counts_to_mask({3, 5}, 2, 4);
  EXPECT_EQ(cv::countNonZero(mask), 5);
}

TEST(RegionLimits, CocoJsonGivesTheRegionsItDescribes) {
  cv::Mat mask = cv::Mat::zeros(6, 5, CV_8UC1);
  mask(cv::Rect(1, 2, 3, 3)) = 1;
  const std::string rle = regionlm::rle_encode(mask);
  const std::string text = "[{\"size\": [6, 5], \"counts\": \"" + rle + "\"}, " +
                           "{\"id\": 7, \"segmentation\": [[1, 1, 4, 1, 4, 5], [0, 0, 2, 0, 0, 2]]}, " +
                           "{\"segmentation\": {\"size\": [6, 5], \"counts\": " +
                           "[" + [&] {
                             std::string runs;
                             for (uint32_t r : regionlm::rle_counts(mask)) runs += (runs.empty() ? "" : ",") + std::to_string(r);
                             return runs;
                           }() + "]}}]";
  const std::vector<Region> regions = regionlm::parse_coco_regions(text, "regions.json");
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(cv::countNonZero(regions[0].rasterize(6, 5) != mask), 0);
  EXPECT_EQ(cv::countNonZero(regions[2].rasterize(6, 5) != mask), 0);
  const Region polygons = Region::from_polygons({{{1, 1}, {4, 1}, {4, 5}}, {{0, 0}, {2, 0}, {0, 2}}});
  EXPECT_EQ(cv::countNonZero(regions[1].rasterize(6, 5) != polygons.rasterize(6, 5)), 0);
}

TEST(RegionLimits, CocoJsonRefusesSizesAndCountsBeyondTheLimits) {
  const auto message = [](const std::string& text) {
    return error_of<regionlm::Error>([&] { regionlm::parse_coco_regions(text, "r.json"); });
  };
  std::string m = message("{\"size\": [65535, 65535], \"counts\": \"0\"}");
  EXPECT_NE(m.find("r.json.size[0]: expected an integer in 1..16384 (limits::kMaxImageSide)"), std::string::npos) << m;
  m = message("{\"size\": [10000, 10000], \"counts\": \"0\"}");
  EXPECT_NE(m.find("r.json.size: 10000x10000 is 100000000 pixels; at most 40000000"), std::string::npos) << m;
  m = message("{\"size\": [1, 2], \"counts\": [0, 1, 0, 1]}");
  EXPECT_NE(m.find("r.json.counts: 4 runs for 2 pixels"), std::string::npos) << m;
  m = message("{\"size\": [1, 2], \"counts\": [0, 4294967296]}");
  EXPECT_NE(m.find("r.json.counts[1]: expected an integer in 0..4294967295"), std::string::npos) << m;
  m = message("{\"segmentation\": [[1, 2, 3]]}");
  EXPECT_NE(m.find("r.json.segmentation[0]: expected a flat list"), std::string::npos) << m;
  std::string many = "[";
  for (int64_t i = 0; i <= limits::kMaxRegions; ++i) many += std::string(i ? "," : "") + "{\"size\":[1,1],\"counts\":[0,1]}";
  m = message(many + "]");
  EXPECT_NE(m.find("257 regions; at most 256 (limits::kMaxRegions)"), std::string::npos) << m;
  EXPECT_THROW(regionlm::parse_coco_regions("{\"size\": [1, 1], \"counts\": ", "r.json"), FormatError);
}

TEST(RegionLimits, RegionCountAndImageSizeAreBoundedBeforeRasterising) {
  const std::vector<Region> too_many(limits::kMaxRegions + 1, Region::from_box(0, 0, 2, 2));
  std::string m = error_of<regionlm::Error>([&] { regionlm::regions_to_masks(too_many, 4, 4, torch::kCPU); });
  EXPECT_NE(m.find("257 regions; at most 256 (limits::kMaxRegions)"), std::string::npos) << m;
  const std::vector<Region> at_limit(limits::kMaxRegions, Region::from_box(0, 0, 2, 2));
  EXPECT_EQ(regionlm::regions_to_masks(at_limit, 4, 4, torch::kCPU).size(0), limits::kMaxRegions);
  m = error_of<regionlm::Error>(
      [&] { regionlm::regions_to_masks({Region::from_box(0, 0, 2, 2)}, 100000, 100000, torch::kCPU); });
  EXPECT_NE(m.find("image size 100000x100000"), std::string::npos) << m;
  EXPECT_FALSE(Region::from_box(0, 0, 2, 2).try_rasterize(1, limits::kMaxImageSide + 1).problem.empty());
}

}  // namespace
