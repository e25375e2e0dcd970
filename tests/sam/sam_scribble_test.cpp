// Scribbles to prompt points: the documented sampling rule.
#include "regionlm/sam/scribble.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "regionlm/error.hpp"

using namespace regionlm::sam;

namespace {

TEST(SamScribble, PolylineSampledEverySpacingWithBothEnds) {
  ScribbleOptions options;
  options.spacing = 10;
  options.max_points = 100;
  const auto points = scribble_points({{0, 0}, {25, 0}, {25, 10}}, 1, options);  // length 35
  ASSERT_EQ(points.size(), 5u);  // 0, 10, 20, 30, 35
  EXPECT_DOUBLE_EQ(points[1].x, 10);
  EXPECT_DOUBLE_EQ(points[2].x, 20);
  EXPECT_DOUBLE_EQ(points[3].x, 25);
  EXPECT_DOUBLE_EQ(points[3].y, 5);
  EXPECT_DOUBLE_EQ(points[4].y, 10);
  for (const auto& p : points) EXPECT_EQ(p.label, 1);
}

TEST(SamScribble, LongPolylineSpreadsMaxPointsEvenly) {
  ScribbleOptions options;
  options.spacing = 1;
  options.max_points = 5;
  const auto points = scribble_points({{0, 0}, {100, 0}}, 0, options);
  ASSERT_EQ(points.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(points[i].x, 25.0 * i);
    EXPECT_EQ(points[i].label, 0);  // a negative scribble
  }
  EXPECT_EQ(scribble_points({{3, 4}}, 1).size(), 1u);
  EXPECT_EQ(scribble_points({{3, 4}, {3, 4}}, 1).size(), 1u);
}

TEST(SamScribble, MaskSampledByFarthestPoints) {
  cv::Mat mask(50, 100, CV_8UC1, cv::Scalar(0));
  cv::line(mask, {10, 25}, {90, 25}, cv::Scalar(1), 1);
  ScribbleOptions options;
  options.spacing = 15;
  options.max_points = 10;
  const auto points = scribble_points(mask, 1, options);
  // Centre, both ends (tie: raster order), the middles of the halves; then nothing is
  // farther than 15 px from a chosen point.
  ASSERT_EQ(points.size(), 5u);
  EXPECT_EQ(points[0].x, 50);
  EXPECT_EQ(points[1].x, 10);
  EXPECT_EQ(points[2].x, 90);
  EXPECT_EQ(points[3].x, 30);
  EXPECT_EQ(points[4].x, 70);
  options.max_points = 2;
  EXPECT_EQ(scribble_points(mask, 1, options).size(), 2u);
  for (const auto& p : points) EXPECT_EQ(p.y, 25);
}

TEST(SamScribble, RejectsBadInput) {
  EXPECT_THROW(scribble_points(std::vector<cv::Point2d>{}, 1), regionlm::ArgumentError);
  EXPECT_THROW(scribble_points({{0, 0}, {1, 1}}, 2), regionlm::ArgumentError);
  EXPECT_THROW(scribble_points({{0, std::nan("")}}, 1), regionlm::ArgumentError);
  EXPECT_THROW(scribble_points(cv::Mat(4, 4, CV_8UC1, cv::Scalar(0)), 1), regionlm::ArgumentError);
  EXPECT_THROW(scribble_points(cv::Mat(4, 4, CV_32FC1, cv::Scalar(1)), 1), regionlm::ArgumentError);
  ScribbleOptions bad;
  bad.spacing = 0;
  EXPECT_THROW(scribble_points({{0, 0}}, 1, bad), regionlm::ArgumentError);
}

}  // namespace
