// Osprey preprocessing against the `preprocess-*` fixtures (Pillow + transformers + torch).
#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/preprocess.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

using regionlm::VisionConfig;
using regionlm::vision::load_image;
using regionlm::vision::preprocess;
using regionlm::vision::resize_short_side;
using regionlm::vision::short_side_size;
using regionlm::test::max_abs_diff;
using regionlm::test::metadata_value;
using regionlm::test::to_tensor;

namespace {

const auto kFloat = torch::TensorOptions().dtype(torch::kFloat32);

TEST(Preprocess, MatchesEveryFixture) {
  const auto files = regionlm::test::find_fixtures("preprocess-");
  ASSERT_FALSE(files.empty()) << "no preprocess-* fixtures in " << regionlm::test::fixtures_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const auto fixture = regionlm::load_weights(file);
    const cv::Mat image = load_image(file.parent_path() / metadata_value(file, "source"));
    EXPECT_EQ(std::to_string(image.cols), metadata_value(file, "width"));
    EXPECT_EQ(std::to_string(image.rows), metadata_value(file, "height"));

    const VisionConfig cfg;  // Osprey: 512
    const auto resized = to_tensor(resize_short_side(image, cfg.image_size));
    const auto expected_resized = fixture.get("expected.resized_uint8");
    ASSERT_EQ(resized.sizes(), expected_resized.sizes());
    EXPECT_EQ(resized.ne(expected_resized).sum().item<int64_t>(), 0) << "resized pixels differ";

    const auto pixels = preprocess(image, cfg, kFloat);
    ASSERT_EQ(pixels.sizes(), (std::vector<int64_t>{1, 3, 512, 512}));
    EXPECT_LE(max_abs_diff(pixels, fixture.get("expected.pixels")), 1e-5);
  }
}

TEST(Preprocess, ShortSideSizeTruncatesTheLongSide) {
  EXPECT_EQ(short_side_size({1000, 700}, 512), cv::Size(731, 512));
  EXPECT_EQ(short_side_size({333, 777}, 512), cv::Size(512, 1194));
  EXPECT_EQ(short_side_size({300, 200}, 512), cv::Size(768, 512));
  EXPECT_EQ(short_side_size({640, 640}, 512), cv::Size(512, 512));
  EXPECT_EQ(short_side_size({3, 1000}, 64), cv::Size(64, 21333));
  EXPECT_THROW(short_side_size({10, 10}, 0), regionlm::ArgumentError);
}

TEST(Preprocess, SizeAndDtypeFollowConfigAndOptions) {
  cv::Mat image(40, 30, CV_8UC3);
  cv::randu(image, 0, 256);
  VisionConfig cfg;
  cfg.image_size = 64;
  const auto f32 = preprocess(image, cfg, kFloat);
  ASSERT_EQ(f32.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  const auto bf16 = preprocess(image, cfg, kFloat.dtype(torch::kBFloat16));
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf16, f32.to(torch::kBFloat16)));  // computed in f32, cast last
}

TEST(Preprocess, RejectsBadArguments) {
  VisionConfig cfg;
  EXPECT_THROW(preprocess(cv::Mat(8, 8, CV_8UC1), cfg, kFloat), regionlm::ArgumentError);
  EXPECT_THROW(preprocess(cv::Mat(), cfg, kFloat), regionlm::ArgumentError);
  cfg.image_size = 0;
  EXPECT_THROW(preprocess(cv::Mat(8, 8, CV_8UC3), cfg, kFloat), regionlm::ArgumentError);
  EXPECT_THROW(resize_short_side(cv::Mat(8, 8, CV_8UC4), 4), regionlm::ArgumentError);
}

}  // namespace
