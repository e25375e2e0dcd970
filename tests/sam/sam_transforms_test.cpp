// segment-anything's pre-processing: ResizeLongestSide.apply_image (Pillow bilinear on uint8
// through torchvision) reproduced bit for bit, and its output size rule.
#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/sam/transforms.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

using namespace regionlm::sam;
using namespace regionlm::sam::test;

namespace {

TEST(SamTransforms, ResizeLongestSideIsBitExact) {
  const auto file = regionlm::test::scratch_dir("sam-resize") / "cases.safetensors";
  regionlm::test::run_python("tests/sam/sam_reference.py", {"resize", file.string()});
  const auto cases = regionlm::load_weights(file);
  int checked = 0;
  for (int i = 0; cases.contains("case" + std::to_string(i) + ".input"); ++i, ++checked) {
    const std::string c = "case" + std::to_string(i);
    const auto input = cases.get(c + ".input");
    const auto expected = cases.get(c + ".expected");
    const int64_t target = cases.get(c + ".target")[0].item<int64_t>();
    SCOPED_TRACE(c + ": " + c10::str(input.sizes()) + " -> " + c10::str(expected.sizes()));
    const auto actual = to_tensor(resize_longest_side(to_mat(input), target));
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_EQ(actual.ne(expected).sum().item<int64_t>(), 0)
        << "max diff " << (actual.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>();
  }
  EXPECT_GE(checked, 8);
}

TEST(SamTransforms, PreprocessSizeRoundsHalfUp) {
  EXPECT_EQ(preprocess_size({640, 480}, 1024), cv::Size(1024, 768));
  EXPECT_EQ(preprocess_size({5, 1}, 64), cv::Size(64, 13));  // 12.8 -> 13
  EXPECT_EQ(preprocess_size({3, 2}, 3), cv::Size(3, 2));
  EXPECT_THROW(preprocess_size({0, 4}, 64), regionlm::ArgumentError);
  EXPECT_THROW(resize_longest_side(cv::Mat(4, 4, CV_8UC1), 8), regionlm::ArgumentError);
}

TEST(SamTransforms, NormalizeAndPadPutsTheImageTopLeft) {
  cv::Mat image(2, 3, CV_8UC3, cv::Scalar(124, 116, 104));
  const auto x = normalize_and_pad(image, 4, torch::TensorOptions().dtype(torch::kFloat32));
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  EXPECT_NEAR(x[0][0][1][2].item<double>(), (124 - kPixelMean[0]) / kPixelStd[0], 1e-6);
  EXPECT_EQ(x[0][1][2][0].item<double>(), 0.0);  // padding row
  EXPECT_EQ(x[0][2][0][3].item<double>(), 0.0);  // padding column
  EXPECT_THROW(normalize_and_pad(cv::Mat(5, 3, CV_8UC3), 4, torch::TensorOptions()), regionlm::ArgumentError);
}

}  // namespace
