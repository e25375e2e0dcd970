#include "regionlm/gpt4roi/box.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "regionlm/error.hpp"

namespace regionlm::gpt4roi {

Box box_of(const Region& region, int width, int height) {
  const cv::Mat mask = region.rasterize(height, width);  // CV_8UC1 0/1; throws ArgumentError
  if (cv::countNonZero(mask) == 0) {
    throw ArgumentError(region.describe() + ": no pixel inside the " + std::to_string(width) + "x" +
                        std::to_string(height) + " image, so it has no box");
  }
  const cv::Rect r = cv::boundingRect(mask);
  return Box{static_cast<double>(r.x), static_cast<double>(r.y), static_cast<double>(r.x + r.width),
             static_cast<double>(r.y + r.height)};
}

}  // namespace regionlm::gpt4roi
