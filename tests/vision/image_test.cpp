// Image decoding against Pillow's convert("RGB") (after EXIF orientation), and rejection of
// bad files and unsupported pixel formats.
#include "regionlm/vision/image.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

namespace fs = std::filesystem;
using regionlm::vision::ChannelOrder;
using regionlm::vision::decode_image;
using regionlm::vision::load_image;
using regionlm::vision::to_rgb8;
using regionlm::test::max_abs_diff;
using regionlm::test::to_tensor;

namespace {

class ImageFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = regionlm::test::scratch_dir("vision-images");
    regionlm::test::run_python("tests/vision/make_images.py", {dir_.string()});
    expected_ = regionlm::load_weights(dir_ / "expected.safetensors");
  }
  static fs::path dir_;
  static regionlm::Weights expected_;
};
fs::path ImageFiles::dir_;
regionlm::Weights ImageFiles::expected_;

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// The message names the file and the exception has the expected type.
template <typename Exception>
void expect_error_naming(const fs::path& path, const std::string& fragment) {
  try {
    load_image(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const Exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST_F(ImageFiles, LosslessModesMatchPillowConvertRgb) {
  for (const char* name : {"rgb.png", "rgba.png", "gray.png", "gray_alpha.png", "palette.png",
                           "rgb16.png", "rgba16.png", "gray_alpha16.png"}) {
    SCOPED_TRACE(name);
    const cv::Mat image = load_image(dir_ / name);
    ASSERT_EQ(image.type(), CV_8UC3);
    const auto expected = expected_.get(std::string("expected.") + name);
    ASSERT_EQ(to_tensor(image).sizes(), expected.sizes());
    EXPECT_TRUE(torch::equal(to_tensor(image), expected));
  }
}

TEST_F(ImageFiles, BufferDecodesLikeFile) {
  const auto bytes = read_bytes(dir_ / "rgba.png");
  const cv::Mat from_buffer = decode_image(bytes.data(), bytes.size(), "rgba bytes");
  EXPECT_TRUE(torch::equal(to_tensor(from_buffer), to_tensor(load_image(dir_ / "rgba.png"))));
}

// Every EXIF orientation yields the image as a viewer shows it. The four flat quadrants
// differ by > 100 levels, so a wrong orientation gives a mean error far above the few levels
// two JPEG decoders may disagree by.
TEST_F(ImageFiles, ExifOrientationIsApplied) {
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const std::string name = "orient" + std::to_string(orientation) + ".jpg";
    SCOPED_TRACE(name);
    const cv::Mat image = load_image(dir_ / name);
    const auto expected = expected_.get("expected." + name);
    const auto actual = to_tensor(image);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    const auto diff = (actual.to(torch::kFloat32) - expected.to(torch::kFloat32)).abs();
    EXPECT_LE(diff.mean().item<double>(), 1.0);
    EXPECT_LE(diff.max().item<double>(), 8.0);
  }
}

// The truncation check must accept complete streams of other shapes: data after the
// end-of-image marker, progressive JPEGs (several scans with tables between them).
TEST_F(ImageFiles, CompleteJpegVariantsAreAccepted) {
  for (const char* name : {"trailer.jpg", "progressive.jpg"}) {
    SCOPED_TRACE(name);
    const cv::Mat image = load_image(dir_ / name);
    const auto expected = expected_.get(std::string("expected.") + name);
    ASSERT_EQ(to_tensor(image).sizes(), expected.sizes());
    EXPECT_LE(max_abs_diff(to_tensor(image), expected), 8.0);
  }
}

// Wherever a JPEG is cut (headers, inside a scan, between progressive scans, just before
// the end marker), decoding fails instead of returning an image with gray rows.
TEST_F(ImageFiles, EveryCutJpegIsRejected) {
  for (const char* name : {"progressive.jpg", "orient6.jpg"}) {
    SCOPED_TRACE(name);
    const auto bytes = read_bytes(dir_ / name);
    ASSERT_NO_THROW(decode_image(bytes.data(), bytes.size(), name));
    for (size_t cut = 1; cut < bytes.size(); cut += (cut + 3 >= bytes.size() ? 1 : 7)) {
      EXPECT_THROW(decode_image(bytes.data(), cut, name), regionlm::FormatError)
          << "cut at " << cut;
    }
  }
}

TEST_F(ImageFiles, BrokenFilesAreFormatErrors) {
  expect_error_naming<regionlm::FormatError>(dir_ / "truncated.jpg", "truncated");
  for (const char* name : {"truncated.png", "corrupt.png"}) {
    SCOPED_TRACE(name);
    expect_error_naming<regionlm::FormatError>(dir_ / name, "not a decodable image");
  }
  // Refused from the header, before decoding (docs/reliability.md).
  expect_error_naming<regionlm::FormatError>(dir_ / "zero_width.png", "declares an empty image");
  expect_error_naming<regionlm::FormatError>(dir_ / "not_an_image.txt", "not a PNG, JPEG or BMP image");
  expect_error_naming<regionlm::FormatError>(dir_ / "empty.png", "empty");
}

TEST_F(ImageFiles, Gray16IsRefusedWithExplanation) {
  expect_error_naming<regionlm::FormatError>(dir_ / "gray16.png", "16-bit grayscale");
}

TEST_F(ImageFiles, UnreadablePathsAreIoErrors) {
  expect_error_naming<regionlm::IoError>(dir_ / "does_not_exist.png", "cannot open");
  expect_error_naming<regionlm::IoError>(dir_, "directory");
}

TEST(DecodeImage, EmptyBufferNamesTheSource) {
  try {
    decode_image(nullptr, 0, "upload #3");
    ADD_FAILURE() << "empty buffer accepted";
  } catch (const regionlm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("upload #3"), std::string::npos);
  }
}

// A 2x3 image whose pixel (y, x) has channels (10y + x, 100 + 10y + x, 200 + x, 7).
cv::Mat patterned(int channels, int depth = CV_8U) {
  cv::Mat image(2, 3, CV_MAKETYPE(depth, channels));
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) {
      const int values[4] = {10 * y + x, 100 + 10 * y + x, 200 + x, 7};
      for (int c = 0; c < channels; ++c) {
        const int v = depth == CV_16U ? values[c] * 256 + 255 : values[c];  // low byte noise
        if (depth == CV_16U) {
          image.ptr<uint16_t>(y)[x * channels + c] = static_cast<uint16_t>(v);
        } else {
          image.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>(v);
        }
      }
    }
  }
  return image;
}

void expect_pixel(const cv::Mat& rgb, int y, int x, int r, int g, int b) {
  const auto* p = rgb.ptr<uint8_t>(y) + 3 * x;
  EXPECT_EQ(p[0], r);
  EXPECT_EQ(p[1], g);
  EXPECT_EQ(p[2], b);
}

TEST(ToRgb8, ChannelOrdersAndAlpha) {
  const cv::Mat rgb = to_rgb8(patterned(3), ChannelOrder::RGB);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  expect_pixel(rgb, 1, 2, 12, 112, 202);
  expect_pixel(to_rgb8(patterned(3), ChannelOrder::BGR), 1, 2, 202, 112, 12);
  expect_pixel(to_rgb8(patterned(4), ChannelOrder::RGB), 1, 2, 12, 112, 202);  // alpha dropped
  expect_pixel(to_rgb8(patterned(4), ChannelOrder::BGR), 1, 2, 202, 112, 12);
  expect_pixel(to_rgb8(patterned(1), ChannelOrder::BGR), 1, 2, 12, 12, 12);
}

TEST(ToRgb8, SixteenBitColourKeepsHighByte) {
  expect_pixel(to_rgb8(patterned(3, CV_16U)), 1, 2, 12, 112, 202);
  expect_pixel(to_rgb8(patterned(4, CV_16U), ChannelOrder::BGR), 1, 2, 202, 112, 12);
}

TEST(ToRgb8, NeverAliasesInputAndHandlesViews) {
  cv::Mat source = patterned(3);
  const cv::Mat copy = to_rgb8(source);
  source.setTo(cv::Scalar::all(0));
  expect_pixel(copy, 1, 2, 12, 112, 202);

  const cv::Mat big = patterned(3);
  const cv::Mat view = big(cv::Rect(1, 0, 2, 2));
  ASSERT_FALSE(view.isContinuous());
  const cv::Mat out = to_rgb8(view);
  ASSERT_EQ(out.size(), cv::Size(2, 2));
  expect_pixel(out, 1, 1, 12, 112, 202);
}

TEST(ToRgb8, RejectsUnsupportedImages) {
  EXPECT_THROW(to_rgb8(cv::Mat()), regionlm::ArgumentError);
  EXPECT_THROW(to_rgb8(patterned(1, CV_16U)), regionlm::ArgumentError);
  EXPECT_THROW(to_rgb8(cv::Mat(2, 2, CV_8UC2, cv::Scalar::all(1))), regionlm::ArgumentError);
  EXPECT_THROW(to_rgb8(cv::Mat(2, 2, CV_32FC3, cv::Scalar::all(1))), regionlm::ArgumentError);
}

}  // namespace
