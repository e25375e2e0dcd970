#include "regionlm/vision/image.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "regionlm/error.hpp"
#include "regionlm/vision/image_header.hpp"
#include "vision/jpeg_integrity.hpp"

namespace regionlm::vision {
namespace {

// Keeps the source depth (so 16-bit data can be converted by our rule, not OpenCV's) and the
// colour/gray distinction (so 16-bit gray can be refused), drops alpha, and — because the
// flags are not IMREAD_UNCHANGED — lets OpenCV apply the EXIF orientation.
constexpr int kDecodeFlags = cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;

const char* const kGray16Refusal =
    "16-bit grayscale images are not converted automatically (Pillow's convert(\"RGB\"), "
    "which the reference model used, clips them at 255); convert to 8 bits first";

// 16-bit -> 8-bit by keeping the high byte, as Pillow unpacks 16-bit RGB/RGBA files.
cv::Mat high_byte(const cv::Mat& image16) {
  cv::Mat out(image16.rows, image16.cols, CV_MAKETYPE(CV_8U, image16.channels()));
  const int values_per_row = image16.cols * image16.channels();
  for (int y = 0; y < image16.rows; ++y) {
    const auto* in = image16.ptr<uint16_t>(y);
    auto* dst = out.ptr<uint8_t>(y);
    for (int i = 0; i < values_per_row; ++i) dst[i] = static_cast<uint8_t>(in[i] >> 8);
  }
  return out;
}

std::string describe(const cv::Mat& image) {
  return std::to_string(image.cols) + "x" + std::to_string(image.rows) + ", " +
         std::to_string(image.channels()) + " channel(s), depth " +
         cv::typeToString(image.type());
}

}  // namespace

cv::Mat to_rgb8(const cv::Mat& image, ChannelOrder order) {
  if (image.empty() || image.rows <= 0 || image.cols <= 0) {
    throw ArgumentError("to_rgb8: empty image (" + std::to_string(image.cols) + "x" +
                        std::to_string(image.rows) + "), expected at least 1x1 pixel");
  }
  const int channels = image.channels();
  if (channels != 1 && channels != 3 && channels != 4) {
    throw ArgumentError("to_rgb8: unsupported channel count (" + describe(image) +
                        "), expected 1 (gray), 3 (colour) or 4 (colour + alpha)");
  }
  cv::Mat eight_bit;
  if (image.depth() == CV_8U) {
    eight_bit = image;
  } else if (image.depth() == CV_16U) {
    if (channels == 1) throw ArgumentError(std::string("to_rgb8: ") + kGray16Refusal);
    eight_bit = high_byte(image);
  } else {
    throw ArgumentError("to_rgb8: unsupported pixel depth (" + describe(image) +
                        "), expected 8-bit (CV_8U) or 16-bit (CV_16U) data");
  }

  const bool bgr = order == ChannelOrder::BGR;
  cv::Mat rgb;
  switch (channels) {
    case 1:
      cv::cvtColor(eight_bit, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      if (bgr) {
        cv::cvtColor(eight_bit, rgb, cv::COLOR_BGR2RGB);
      } else {
        rgb = eight_bit.clone();
      }
      break;
    default:  // 4: alpha is dropped, not composited, like Pillow's convert("RGB")
      cv::cvtColor(eight_bit, rgb, bgr ? cv::COLOR_BGRA2RGB : cv::COLOR_RGBA2RGB);
      break;
  }
  if (rgb.data == image.data) rgb = rgb.clone();  // never alias the caller's pixels
  return rgb;
}

cv::Mat decode_image(const void* data, size_t size, const std::string& what) {
  if (data == nullptr || size == 0) {
    throw FormatError(what + ": empty data (0 bytes), expected an encoded image");
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  // cv::Mat cannot describe more than INT_MAX columns.
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw FormatError(what + ": " + std::to_string(size) + " bytes is too large to decode");
  }
  // The declared size is checked before OpenCV allocates the pixels.
  check_image_size(read_image_header(bytes, size, what), what);
  const cv::Mat encoded(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(bytes));
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(encoded, kDecodeFlags);
  } catch (const cv::Exception& e) {
    throw FormatError(what + ": cannot decode image: " + e.what());
  }
  if (decoded.empty()) {
    throw FormatError(what +
                      ": not a decodable image (unknown format, corrupt or truncated data)");
  }
  if (detail::looks_like_jpeg(bytes, size) && !detail::jpeg_reaches_end_of_image(bytes, size)) {
    throw FormatError(what + ": truncated JPEG data (no end-of-image marker)");
  }
  if (decoded.depth() == CV_16U && decoded.channels() == 1) {
    throw FormatError(what + ": " + kGray16Refusal);
  }
  try {
    return to_rgb8(decoded, ChannelOrder::BGR);  // OpenCV decodes to BGR
  } catch (const ArgumentError& e) {
    throw FormatError(what + ": " + e.what());
  }
}

cv::Mat load_image(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw IoError("cannot read image '" + path.string() + "': it is a directory");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw IoError("cannot open image '" + path.string() + "': " + std::strerror(errno));
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) {
    throw IoError("cannot read image '" + path.string() + "': read error");
  }
  return decode_image(bytes.data(), bytes.size(), path.string());
}

}  // namespace regionlm::vision
