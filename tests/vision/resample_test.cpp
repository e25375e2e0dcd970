// The bicubic resampler against Pillow's own Image.resize(..., BICUBIC): bit-exact.
#include "regionlm/vision/resample.hpp"

#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

using regionlm::vision::resize_bicubic_pillow;
using regionlm::test::to_mat;
using regionlm::test::to_tensor;

namespace {

TEST(PillowBicubic, BitExactOnEveryReferenceCase) {
  const auto file = regionlm::test::scratch_dir("vision-resample") / "cases.safetensors";
  regionlm::test::run_python("tests/vision/pillow_resize.py", {file.string()});
  const auto cases = regionlm::load_weights(file);
  int checked = 0;
  for (int i = 0; cases.contains("case" + std::to_string(i) + ".input"); ++i, ++checked) {
    const auto input = cases.get("case" + std::to_string(i) + ".input");
    const auto expected = cases.get("case" + std::to_string(i) + ".expected");
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c10::str(input.sizes()) + " -> " +
                 c10::str(expected.sizes()));
    const cv::Mat resized =
        resize_bicubic_pillow(to_mat(input), expected.size(1), expected.size(0));
    const auto actual = to_tensor(resized);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    const auto mismatches = actual.ne(expected).sum().item<int64_t>();
    EXPECT_EQ(mismatches, 0)
        << "max diff "
        << (actual.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>();
  }
  EXPECT_GE(checked, 10);
}

TEST(PillowBicubic, RejectsBadArguments) {
  const cv::Mat image(4, 4, CV_8UC3, cv::Scalar::all(9));
  EXPECT_THROW(resize_bicubic_pillow(image, 0, 4), regionlm::ArgumentError);
  EXPECT_THROW(resize_bicubic_pillow(image, 4, -1), regionlm::ArgumentError);
  EXPECT_THROW(resize_bicubic_pillow(cv::Mat(), 4, 4), regionlm::ArgumentError);
  EXPECT_THROW(resize_bicubic_pillow(cv::Mat(4, 4, CV_32FC3), 4, 4), regionlm::ArgumentError);
}

TEST(PillowBicubic, SameSizeIsACopy) {
  cv::Mat image(3, 5, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat out = resize_bicubic_pillow(image, 5, 3);
  EXPECT_NE(out.data, image.data);
  EXPECT_EQ(cv::norm(out, image, cv::NORM_INF), 0.0);
}

}  // namespace
