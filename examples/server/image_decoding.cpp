#include "server/image_decoding.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <optional>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/image_header.hpp"
#include "server/api_error.hpp"

namespace regionlm::server {

namespace {

bool is_png(const std::string& b) { return b.size() >= 8 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0; }
bool is_jpeg(const std::string& b) {
  return b.size() >= 3 && uint8_t(b[0]) == 0xff && uint8_t(b[1]) == 0xd8 && uint8_t(b[2]) == 0xff;
}

}  // namespace

cv::Size image_header_size(const std::string& bytes, const std::string& param) {
  if (!is_png(bytes) && !is_jpeg(bytes)) throw unprocessable(param, param + ": not a PNG or JPEG file", "invalid_image");
  vision::ImageHeader header;
  try {
    header = vision::read_image_header(bytes.data(), bytes.size(), param);
  } catch (const Error& e) {
    throw unprocessable(param, e.what(), "invalid_image");
  }
  const std::string size = std::to_string(header.width) + "x" + std::to_string(header.height) + " px";
  if (header.width <= 0 || header.height <= 0) {
    throw unprocessable(param, param + ": image is " + size, "invalid_image");
  }
  if (header.width > limits::kMaxImageSide || header.height > limits::kMaxImageSide ||
      header.width * header.height > limits::kMaxImagePixels) {
    throw unprocessable(param, param + ": image is " + size + "; at most " + std::to_string(limits::kMaxImageSide) +
                                   " px a side and " + std::to_string(limits::kMaxImagePixels) + " pixels",
                        "image_too_large");
  }
  return cv::Size(static_cast<int>(header.width), static_cast<int>(header.height));
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
