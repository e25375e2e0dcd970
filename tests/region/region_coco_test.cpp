// Region rasterisation and COCO RLE against pycocotools (tests/region/coco_reference.py):
// pixel-exact polygons and boxes, byte-exact RLE strings, both directions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "regionlm/io/weights.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/region/rle.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

struct Reference {
  Weights tensors;
  std::map<std::string, std::string> meta;

  int cases(const std::string& family) const { return std::stoi(meta.at(family + "_cases")); }
  cv::Mat mask(const std::string& key) const {
    const torch::Tensor t = tensors.get(key).contiguous();
    return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC1,
                   t.data_ptr<uint8_t>())
        .clone();
  }
};

class CocoReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto file = test::scratch_dir("region-coco") / "coco_reference.safetensors";
    test::run_python("tests/region/coco_reference.py", {file.string()});
    reference_ = std::make_unique<Reference>();
    reference_->tensors = load_weights(file);
    for (const auto& [key, value] : safetensors_metadata(file)) reference_->meta[key] = value;
  }
  static void TearDownTestSuite() { reference_.reset(); }
  static const Reference& ref() { return *reference_; }

 private:
  static std::unique_ptr<Reference> reference_;
};
std::unique_ptr<Reference> CocoReference::reference_;

int differing_pixels(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size()) return -1;
  return cv::countNonZero(a != b);
}

std::vector<cv::Point2d> to_points(const std::vector<double>& xy) {
  std::vector<cv::Point2d> points;
  for (size_t k = 0; k + 1 < xy.size(); k += 2) points.emplace_back(xy[k], xy[k + 1]);
  return points;
}

TEST_F(CocoReference, RleEncodeEqualsPycocotools) {
  ASSERT_GT(ref().cases("rle"), 10);
  for (int i = 0; i < ref().cases("rle"); ++i) {
    const std::string key = "rle." + std::to_string(i);
    const cv::Mat mask = ref().mask(key + ".mask");
    EXPECT_EQ(rle_encode(mask), ref().meta.at(key + ".counts")) << key;
    const auto runs = nlohmann::json::parse(ref().meta.at(key + ".runs")).get<std::vector<uint32_t>>();
    EXPECT_EQ(rle_counts(mask), runs) << key;
    EXPECT_EQ(rle_counts_to_string(runs), ref().meta.at(key + ".counts")) << key;
  }
}

TEST_F(CocoReference, RleDecodeEqualsPycocotools) {
  for (int i = 0; i < ref().cases("rle"); ++i) {
    const std::string key = "rle." + std::to_string(i);
    const cv::Mat mask = ref().mask(key + ".mask");
    const std::string counts = ref().meta.at(key + ".counts");
    const auto runs = nlohmann::json::parse(ref().meta.at(key + ".runs")).get<std::vector<uint32_t>>();
    EXPECT_EQ(differing_pixels(rle_decode(counts, mask.rows, mask.cols), mask), 0) << key;
    EXPECT_EQ(rle_string_to_counts(counts), runs) << key;
    // Through the Region type, both RLE forms.
    EXPECT_EQ(differing_pixels(Region::from_rle(counts, mask.rows, mask.cols)
                                   .rasterize(mask.rows, mask.cols), mask), 0) << key;
    EXPECT_EQ(differing_pixels(Region::from_rle(runs, mask.rows, mask.cols)
                                   .rasterize(mask.rows, mask.cols), mask), 0) << key;
    // And a round trip through our own encoder.
    EXPECT_EQ(differing_pixels(rle_decode(rle_encode(mask), mask.rows, mask.cols), mask), 0)
        << key;
  }
}

TEST_F(CocoReference, PolygonsEqualPycocotools) {
  ASSERT_GT(ref().cases("poly"), 10);
  for (int i = 0; i < ref().cases("poly"); ++i) {
    const std::string key = "poly." + std::to_string(i);
    const cv::Mat expected = ref().mask(key + ".mask");
    const auto parts = nlohmann::json::parse(ref().meta.at(key + ".polygons"))
                           .get<std::vector<std::vector<double>>>();
    std::vector<std::vector<cv::Point2d>> polygons;
    for (const auto& xy : parts) polygons.push_back(to_points(xy));
    const cv::Mat got = Region::from_polygons(polygons).rasterize(expected.rows, expected.cols);
    EXPECT_EQ(differing_pixels(got, expected), 0)
        << key << " " << ref().meta.at(key + ".polygons");
    if (polygons.size() == 1) {
      const cv::Mat single = Region::from_polygon(polygons[0]).rasterize(expected.rows, expected.cols);
      EXPECT_EQ(differing_pixels(single, expected), 0) << key;
    }
  }
}

TEST_F(CocoReference, BoxesEqualPycocotoolsBboxes) {
  ASSERT_GT(ref().cases("box"), 5);
  for (int i = 0; i < ref().cases("box"); ++i) {
    const std::string key = "box." + std::to_string(i);
    const cv::Mat expected = ref().mask(key + ".mask");
    const auto b = nlohmann::json::parse(ref().meta.at(key + ".box")).get<std::vector<double>>();
    const cv::Mat got = Region::from_box(b[0], b[1], b[2], b[3]).rasterize(expected.rows, expected.cols);
    EXPECT_EQ(differing_pixels(got, expected), 0) << key << " " << ref().meta.at(key + ".box");
  }
}

}  // namespace
}  // namespace regionlm::test
