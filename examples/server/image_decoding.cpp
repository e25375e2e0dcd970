#include "server/image_decoding.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <optional>

#include "regionlm/error.hpp"
#include "regionlm/vision/image.hpp"
#include "server/api_error.hpp"

namespace regionlm::server {

namespace {

uint32_t big_endian(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

bool is_png(const std::string& b) { return b.size() >= 8 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0; }
bool is_jpeg(const std::string& b) {
  return b.size() >= 3 && uint8_t(b[0]) == 0xff && uint8_t(b[1]) == 0xd8 && uint8_t(b[2]) == 0xff;
}

/// The frame size of a JPEG: walks the marker segments up to the first SOFn.
std::optional<cv::Size> jpeg_size(const std::string& b) {
  size_t at = 2;
  while (at + 4 <= b.size()) {
    if (uint8_t(b[at]) != 0xff) return std::nullopt;
    const uint8_t marker = uint8_t(b[at + 1]);
    if (marker == 0xff) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length
      at += 2;
      continue;
    }
    const uint32_t length = big_endian(b, at + 2, 2);
    if (length < 2) return std::nullopt;
    const bool frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (frame) {
      if (at + 9 > b.size()) return std::nullopt;
      return cv::Size(static_cast<int>(big_endian(b, at + 7, 2)), static_cast<int>(big_endian(b, at + 5, 2)));
    }
    at += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

cv::Size image_header_size(const std::string& bytes, const std::string& param) {
  std::optional<cv::Size> size;
  if (is_png(bytes)) {
    if (bytes.size() < 24 || bytes.compare(12, 4, "IHDR") != 0) {
      throw unprocessable(param, param + ": truncated PNG (no IHDR header)", "invalid_image");
    }
    const uint32_t w = big_endian(bytes, 16, 4), h = big_endian(bytes, 20, 4);
    if (w > static_cast<uint32_t>(kMaxImageSide) || h > static_cast<uint32_t>(kMaxImageSide)) {
      throw unprocessable(param, param + ": image is " + std::to_string(w) + "x" + std::to_string(h) +
                                     " px; at most " + std::to_string(kMaxImageSide) + " px a side",
                          "image_too_large");
    }
    size = cv::Size(static_cast<int>(w), static_cast<int>(h));
  } else if (is_jpeg(bytes)) {
    size = jpeg_size(bytes);
    if (!size) throw unprocessable(param, param + ": JPEG without a readable frame header", "invalid_image");
  } else {
    throw unprocessable(param, param + ": not a PNG or JPEG file", "invalid_image");
  }
  if (size->width <= 0 || size->height <= 0) {
    throw unprocessable(param, param + ": image is " + std::to_string(size->width) + "x" + std::to_string(size->height) +
                                   " px",
                        "invalid_image");
  }
  if (size->width > kMaxImageSide || size->height > kMaxImageSide ||
      int64_t(size->width) * size->height > kMaxImagePixels) {
    throw unprocessable(param, param + ": image is " + std::to_string(size->width) + "x" +
                                   std::to_string(size->height) + " px; at most " + std::to_string(kMaxImageSide) +
                                   " px a side and " + std::to_string(kMaxImagePixels) + " pixels",
                        "image_too_large");
  }
  return *size;
}

cv::Mat decode_rgb(const std::string& bytes, const std::string& param) {
  image_header_size(bytes, param);  // refuses what is too large before decoding
  cv::Mat rgb;
  try {
    rgb = vision::decode_image(bytes.data(), bytes.size(), param);
  } catch (const Error& e) {
    throw unprocessable(param, e.what(), "invalid_image");
  }
  return rgb;
}

cv::Mat decode_mask(const std::string& bytes, cv::Size size, const std::string& param) {
  const cv::Size header = image_header_size(bytes, param);
  if (header != size) {
    throw unprocessable(param, param + ": mask is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                                   " px, the image " + std::to_string(size.width) + "x" + std::to_string(size.height),
                        "invalid_region");
  }
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data())),
                           cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    decoded.release();
  }
  if (decoded.empty() || decoded.size() != size) {
    throw unprocessable(param, param + ": mask PNG cannot be decoded", "invalid_image");
  }
  if (decoded.channels() > 1) {
    std::vector<cv::Mat> channels;
    cv::split(decoded, channels);
    decoded = channels[0];
    for (size_t c = 1; c < channels.size(); ++c) decoded = cv::max(decoded, channels[c]);
  }
  cv::Mat mask;
  cv::compare(decoded, 0, mask, cv::CMP_NE);  // 255 where inside
  return mask / 255;
}

}  // namespace regionlm::server
