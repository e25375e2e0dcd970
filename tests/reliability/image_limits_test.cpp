// Image sizes are read from the header and checked before decoding (limits::kMaxImageSide,
// limits::kMaxImagePixels); formats whose header is not read are refused.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/image_header.hpp"

namespace {

using regionlm::FormatError;
using regionlm::vision::check_image_size;
using regionlm::vision::decode_image;
using regionlm::vision::read_image_header;
namespace limits = regionlm::limits;

std::string big_endian32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// The first 33 bytes of a PNG: signature and an IHDR chunk (8-bit RGB). The CRC is not
// checked by the header reader; the decoder never sees the file when the size is refused.
std::string png_header(uint32_t width, uint32_t height) {
  return std::string("\x89PNG\r\n\x1a\n", 8) + big_endian32(13) + "IHDR" + big_endian32(width) +
         big_endian32(height) + std::string("\x08\x02\x00\x00\x00", 5) + big_endian32(0);
}

std::vector<uint8_t> encode(const std::string& ext, int width, int height) {
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(10, 20, 30));
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes)) << ext;
  return bytes;
}

std::string message_of(const std::string& bytes) {
  try {
    decode_image(bytes.data(), bytes.size(), "upload");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ImageLimits, PngDeclaring65535SquaredIsRefusedFromItsHeader) {
  const std::string message = message_of(png_header(65535, 65535));
  // The header check's message, not the decoder's "not a decodable image": OpenCV never ran.
  EXPECT_NE(message.find("upload: PNG header declares 65535x65535 px"), std::string::npos) << message;
  EXPECT_NE(message.find("limits::kMaxImageSide"), std::string::npos) << message;
}

TEST(ImageLimits, SideAndPixelLimitsHaveExactBoundaries) {
  EXPECT_NO_THROW(check_image_size({"PNG", limits::kMaxImageSide, 1}, "x"));
  EXPECT_THROW(check_image_size({"PNG", limits::kMaxImageSide + 1, 1}, "x"), FormatError);
  EXPECT_THROW(check_image_size({"PNG", 1, limits::kMaxImageSide + 1}, "x"), FormatError);
  const int64_t side = limits::kMaxImagePixels / 5000;  // 8000 x 5000 = the pixel limit
  EXPECT_NO_THROW(check_image_size({"PNG", side, 5000}, "x"));
  EXPECT_THROW(check_image_size({"PNG", side, 5001}, "x"), FormatError);
  EXPECT_THROW(check_image_size({"PNG", 0, 10}, "x"), FormatError);

  // A real PNG at the side limit decodes; one pixel wider is refused.
  const auto ok = encode(".png", limits::kMaxImageSide, 1);
  EXPECT_EQ(decode_image(ok.data(), ok.size()).cols, limits::kMaxImageSide);
  const auto wide = encode(".png", limits::kMaxImageSide + 1, 1);
  EXPECT_THROW(decode_image(wide.data(), wide.size()), FormatError);
}

TEST(ImageLimits, HeadersOfEveryAcceptedFormatGiveTheEncodedSize) {
  for (const std::string ext : {".png", ".jpg", ".bmp"}) {
    const auto bytes = encode(ext, 37, 23);
    const auto header = read_image_header(bytes.data(), bytes.size(), ext);
    EXPECT_EQ(header.width, 37) << ext;
    EXPECT_EQ(header.height, 23) << ext;
    const cv::Mat rgb = decode_image(bytes.data(), bytes.size(), ext);
    EXPECT_EQ(rgb.cols, 37) << ext;
    EXPECT_EQ(rgb.rows, 23) << ext;
  }
}

TEST(ImageLimits, OversizedJpegAndBmpHeadersAreRefused) {
  // JPEG: SOI, an APP0 segment to walk past, then SOF0 declaring 60000 x 60000.
  const std::string jpeg = std::string("\xFF\xD8\xFF\xE0\x00\x04\x00\x00", 8) +
                           std::string("\xFF\xC0\x00\x11\x08\xEA\x60\xEA\x60\x03", 10) + std::string(16, '\0');
  EXPECT_NE(message_of(jpeg).find("JPEG header declares 60000x60000 px"), std::string::npos) << message_of(jpeg);

  // BMP with a negative (top-down) height of -30000 and width 30000.
  std::string bmp = "BM" + std::string(12, '\0') + std::string("\x28\x00\x00\x00", 4) +
                    std::string("\x30\x75\x00\x00", 4) + std::string("\xD0\x8A\xFF\xFF", 4) + std::string(40, '\0');
  EXPECT_NE(message_of(bmp).find("BMP header declares 30000x30000 px"), std::string::npos) << message_of(bmp);
}

TEST(ImageLimits, OtherFormatsAndCutHeadersAreFormatErrors) {
  const std::string tiff("II*\0\x08\0\0\0", 8);
  EXPECT_NE(message_of(tiff).find("not a PNG, JPEG or BMP image"), std::string::npos) << message_of(tiff);
  EXPECT_NE(message_of(png_header(10, 10).substr(0, 20)).find("PNG header cut short"), std::string::npos);
  EXPECT_NE(message_of(std::string("\xFF\xD8\xFF\xDA\x00\x02", 6)).find("JPEG header cut short"),
            std::string::npos);
}

}  // namespace
