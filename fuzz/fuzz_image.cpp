// Encoded images: the header size check, OpenCV's decoders behind it, the truncated-JPEG check
// and the conversion to RGB. A decoded image must have the size its header declared (or the
// transposed one, after EXIF rotation).
#include <opencv2/core.hpp>

#include "regionlm/error.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/image_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto header = regionlm::vision::read_image_header(data, size, "input");
    const cv::Mat rgb = regionlm::vision::decode_image(data, size, "input");
    const bool same = rgb.cols == header.width && rgb.rows == header.height;
    const bool rotated = rgb.cols == header.height && rgb.rows == header.width;
    if (rgb.type() != CV_8UC3 || !(same || rotated)) __builtin_trap();
  } catch (const regionlm::Error&) {
  }
  return 0;
}
