// Region value type and regions_to_masks: conventions, resizing and every validation rule.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "regionlm/error.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/region/region.hpp"

namespace regionlm::test {
namespace {

using ::testing::HasSubstr;

// Count of pixels where two 0/1 masks differ (also fails on size mismatch).
int differing_pixels(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size()) return -1;
  return cv::countNonZero(a != b);
}

// The ArgumentError message a call throws (fails the test when it throws nothing).
template <class F>
std::string argument_error(F&& call) {
  try {
    call();
  } catch (const ArgumentError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an ArgumentError";
  return {};
}

std::string masks_error(const std::vector<Region>& regions, int h = 10, int w = 12,
                        bool allow_resize = false) {
  return argument_error([&] { regions_to_masks(regions, h, w, torch::kCPU, allow_resize); });
}

TEST(RegionMask, NonZeroIsInsideForAnyDepth) {
  cv::Mat bytes = (cv::Mat_<uint8_t>(2, 3) << 0, 7, 255, 1, 0, 0);
  cv::Mat floats = (cv::Mat_<float>(2, 3) << 0.f, 0.5f, -2.f, 1.f, 0.f, 0.f);
  const cv::Mat expected = (cv::Mat_<uint8_t>(2, 3) << 0, 1, 1, 1, 0, 0);
  EXPECT_EQ(differing_pixels(Region::from_mask(bytes).rasterize(2, 3), expected), 0);
  EXPECT_EQ(differing_pixels(Region::from_mask(floats).rasterize(2, 3), expected), 0);
  EXPECT_EQ(Region::from_mask(bytes).kind(), Region::Kind::Mask);
  EXPECT_EQ(Region::from_mask(bytes).describe(), "mask 2x3");
}

TEST(RegionMask, KeepsItsOwnCopy) {
  cv::Mat mask = cv::Mat::zeros(2, 2, CV_8UC1);
  mask.at<uint8_t>(0, 0) = 1;
  const Region region = Region::from_mask(mask);
  mask.setTo(0);
  EXPECT_EQ(region.rasterize(2, 2).at<uint8_t>(0, 0), 1);
}

TEST(RegionMask, OtherSizeNeedsOptIn) {
  const cv::Mat small = (cv::Mat_<uint8_t>(2, 3) << 1, 0, 1, 0, 1, 0);
  const Region region = Region::from_mask(small);
  EXPECT_THAT(argument_error([&] { region.rasterize(4, 6); }),
              HasSubstr("mask 2x3: mask is 2x3 but the image is 4x6"));
  // Nearest neighbour at pixel centres: a 2x upscale repeats every pixel in a 2x2 block.
  const cv::Mat big = region.rasterize(4, 6, /*allow_resize=*/true);
  ASSERT_EQ(big.size(), cv::Size(6, 4));
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 6; ++x) EXPECT_EQ(big.at<uint8_t>(y, x), small.at<uint8_t>(y / 2, x / 2));
  }
  EXPECT_THAT(masks_error({Region::from_mask(cv::Mat::ones(10, 12, CV_8UC1)), region}),
              HasSubstr("region 1 (mask 2x3): mask is 2x3 but the image is 10x12"));
}

TEST(RegionMask, RejectsMultiChannelAndEmptyMatrices) {
  EXPECT_THAT(masks_error({Region::from_mask(cv::Mat::ones(10, 12, CV_8UC3))}),
              HasSubstr("region 0 (mask 10x12): mask has 3 channels"));
  EXPECT_THAT(masks_error({Region::from_mask(cv::Mat())}),
              HasSubstr("region 0 (mask (empty)): mask has no pixels"));
}

TEST(RegionMask, AllZeroMaskIsEmptyRegion) {
  EXPECT_THAT(masks_error({Region::from_box(1, 1, 3, 3), Region::from_mask(cv::Mat::zeros(10, 12, CV_8UC1))}),
              HasSubstr("region 1 (mask 10x12): region is empty"));
}

TEST(RegionBox, FarCornerIsExclusive) {
  const cv::Mat m = Region::from_box(2, 3, 6, 8).rasterize(10, 12);
  cv::Mat expected = cv::Mat::zeros(10, 12, CV_8UC1);
  expected(cv::Rect(2, 3, 4, 5)).setTo(1);  // columns 2..5, rows 3..7
  EXPECT_EQ(differing_pixels(m, expected), 0);
  EXPECT_EQ(Region::from_box(2, 3, 6, 8).describe(), "box (2, 3, 6, 8)");
  EXPECT_EQ(Region::from_box(2, 3, 6, 8).kind(), Region::Kind::Box);
}

TEST(RegionBox, IsClippedToTheImage) {
  const cv::Mat m = Region::from_box(-1e9, 7, 1e9, 1e12).rasterize(10, 12);
  cv::Mat expected = cv::Mat::zeros(10, 12, CV_8UC1);
  expected(cv::Rect(0, 7, 12, 3)).setTo(1);
  EXPECT_EQ(differing_pixels(m, expected), 0);
}

TEST(RegionBox, BadBoxes) {
  EXPECT_THAT(masks_error({Region::from_box(20, 0, 30, 5)}),
              HasSubstr("region 0 (box (20, 0, 30, 5)): box covers no pixel of the 10x12 image"));
  EXPECT_THAT(masks_error({Region::from_box(-5, -5, 0, 0)}), HasSubstr("covers no pixel"));
  EXPECT_THAT(masks_error({Region::from_box(3, 3, 3, 8)}), HasSubstr("covers no pixel"));
  EXPECT_THAT(masks_error({Region::from_box(1, 1, 2, 2), Region::from_box(6, 1, 2, 5)}),
              HasSubstr("region 1 (box (6, 1, 2, 5)): box corners must satisfy x0 <= x1"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(masks_error({Region::from_box(nan, 1, 2, 2)}), HasSubstr("must be finite"));
  EXPECT_THAT(argument_error([] { Region::from_box(0, 0, 1, INFINITY).rasterize(4, 4); }),
              HasSubstr("box (0, 0, 1, inf): box coordinates must be finite"));
}

TEST(RegionPolygon, BadPolygons) {
  EXPECT_THAT(masks_error({Region::from_polygon({{1, 1}, {5, 5}})}),
              HasSubstr("region 0 (polygon (2 points)): polygon has 2 points; at least 3"));
  EXPECT_THAT(masks_error({Region::from_polygons({{{1, 1}, {5, 1}, {5, 5}}, {{0, 0}}})}),
              HasSubstr("region 0 (2 polygons (4 points)): polygon 1 has 1 points"));
  EXPECT_THAT(masks_error({Region::from_polygons({})}), HasSubstr("no polygon given"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(masks_error({Region::from_polygon({{1, 1}, {nan, 5}, {5, 1}})}),
              HasSubstr("point 1 (nan, 5) is not a finite coordinate"));
  EXPECT_THAT(masks_error({Region::from_polygon({{1, 1}, {5e7, 5}, {5, 1}})}),
              HasSubstr("is not a finite coordinate within"));
  EXPECT_THAT(masks_error({Region::from_polygon({{20, 20}, {30, 20}, {30, 30}})}),
              HasSubstr("region 0 (polygon (3 points)): region is empty"));
}

TEST(RegionPolygon, UnionOfParts) {
  const std::vector<cv::Point2d> left{{0, 0}, {4, 0}, {4, 4}, {0, 4}};
  const std::vector<cv::Point2d> right{{2, 2}, {8, 2}, {8, 6}, {2, 6}};
  const cv::Mat both = Region::from_polygons({left, right}).rasterize(8, 8);
  const cv::Mat expected = Region::from_box(0, 0, 4, 4).rasterize(8, 8) |
                           Region::from_box(2, 2, 8, 6).rasterize(8, 8);
  EXPECT_EQ(differing_pixels(both, expected), 0);
  EXPECT_EQ(Region::from_polygons({left, right}).kind(), Region::Kind::Polygon);
}

TEST(RegionRle, CompressedAndUncompressedAgree) {
  // 3x4 mask, column-major runs: 2 zeros, 3 ones, 7 zeros.
  const std::vector<uint32_t> runs{2, 3, 7};
  const cv::Mat expected = (cv::Mat_<uint8_t>(3, 4) << 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0);
  EXPECT_EQ(differing_pixels(Region::from_rle(runs, 3, 4).rasterize(3, 4), expected), 0);
  const std::string text = rle_counts_to_string(runs);
  EXPECT_EQ(differing_pixels(Region::from_rle(text, 3, 4).rasterize(3, 4), expected), 0);
  EXPECT_EQ(Region::from_rle(text, 3, 4).describe(), "RLE 3x4");
  EXPECT_EQ(Region::from_rle(runs, 3, 4).kind(), Region::Kind::Rle);
}

TEST(RegionRle, MalformedRle) {
  EXPECT_THAT(masks_error({Region::from_rle(std::string("0 "), 10, 12)}),
              HasSubstr("region 0 (RLE 10x12): malformed RLE: character ' ' at position 1"));
  // 'P' = '0' + 0x20: "another group follows", but the string ends.
  EXPECT_THAT(masks_error({Region::from_rle(std::string("1P"), 10, 12)}),
              HasSubstr("malformed RLE: the string ends in the middle of run 1"));
  // 'M' = '0' + 29 is -3; as the fourth run it is 1 + (-3) = -2.
  EXPECT_THAT(masks_error({Region::from_rle(std::string("111M"), 10, 12)}),
              HasSubstr("malformed RLE: run 3 decodes to -2"));
  EXPECT_THAT(masks_error({Region::from_rle(std::string(14, 'o'), 10, 12)}),
              HasSubstr("too many characters"));
  EXPECT_THAT(masks_error({Region::from_rle(std::vector<uint32_t>{5, 5}, 10, 12)}),
              HasSubstr("the runs cover 10 pixels but a 10x12 mask has 120"));
  EXPECT_THAT(masks_error({Region::from_rle(std::vector<uint32_t>{}, 0, 12)}),
              HasSubstr("RLE size must be positive"));
  EXPECT_THAT(masks_error({Region::from_rle(std::vector<uint32_t>{120}, 10, 12)}),
              HasSubstr("region is empty"));
}

TEST(RegionRle, OtherSizeNeedsOptIn) {
  const Region region = Region::from_rle(std::vector<uint32_t>{0, 6}, 2, 3);
  EXPECT_THAT(masks_error({region}),
              HasSubstr("region 0 (RLE 2x3): RLE mask is 2x3 but the image is 10x12"));
  const torch::Tensor m = regions_to_masks({region}, 10, 12, torch::kCPU, true);
  EXPECT_EQ(m.sum().item<int64_t>(), 120);
}

TEST(RleHelpers, RejectBadArguments) {
  EXPECT_THAT(argument_error([] { rle_encode(cv::Mat::ones(2, 2, CV_32F)); }),
              HasSubstr("rle_encode: expected a non-empty single-channel 8-bit"));
  EXPECT_THAT(argument_error([] { rle_encode(cv::Mat()); }), HasSubstr("rle_encode"));
  EXPECT_THAT(argument_error([] { rle_decode("", 3, 4); }), HasSubstr("cover 0 pixels"));
}

TEST(RegionsToMasks, StacksRasterisedRegions) {
  const std::vector<Region> regions{
      Region::from_box(1, 2, 5, 7),
      Region::from_polygon({{0, 0}, {11.5, 0}, {0, 9.5}}),
      Region::from_rle(std::vector<uint32_t>{30, 50, 40}, 10, 12),
  };
  const torch::Tensor masks = regions_to_masks(regions, 10, 12, torch::kCPU);
  ASSERT_EQ(masks.sizes(), (std::vector<int64_t>{3, 10, 12}));
  EXPECT_EQ(masks.scalar_type(), torch::kUInt8);
  for (size_t i = 0; i < regions.size(); ++i) {
    const cv::Mat expected = regions[i].rasterize(10, 12);
    const torch::Tensor plane = masks[static_cast<int64_t>(i)].contiguous();
    const cv::Mat got(10, 12, CV_8UC1, plane.data_ptr<uint8_t>());
    EXPECT_EQ(differing_pixels(got, expected), 0) << "region " << i;
  }
  EXPECT_LE(masks.max().item<int>(), 1);
}

TEST(RegionsToMasks, NoRegionsAndBadImageSize) {
  EXPECT_EQ(regions_to_masks({}, 10, 12, torch::kCPU).sizes(),
            (std::vector<int64_t>{0, 10, 12}));
  EXPECT_THAT(masks_error({Region::from_box(0, 0, 1, 1)}, 0, 12),
              HasSubstr("regions_to_masks: image size must be positive, got 0x12"));
  EXPECT_THAT(argument_error([] { Region::from_box(0, 0, 1, 1).rasterize(5, -1); }),
              HasSubstr("image size must be positive, got 5x-1"));
}

}  // namespace
}  // namespace regionlm::test
