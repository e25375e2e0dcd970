#include "regionlm/gpt4roi/box.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <sstream>

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

RegionBoxes boxes_of(const std::vector<Region>& regions, int width, int height) {
  RegionBoxes out;
  for (size_t i = 0; i < regions.size(); ++i) {
    const Region& region = regions[i];
    if (const auto corners = region.box()) {  // as given; Model checks it lies in the image
      out.boxes.push_back({(*corners)[0], (*corners)[1], (*corners)[2], (*corners)[3]});
      out.notes.emplace_back();
      continue;
    }
    try {
      out.boxes.push_back(box_of(region, width, height));
    } catch (const ArgumentError& e) {
      throw ArgumentError("region " + std::to_string(i + 1) + ": " + e.what());
    }
    const Box& b = out.boxes.back();
    std::ostringstream note;
    note << "region " << i + 1 << " (" << region.describe() << ") was used as its bounding box (" << b.x1 << ", "
         << b.y1 << ", " << b.x2 << ", " << b.y2 << "): GPT4RoI reads boxes only";
    out.notes.push_back(note.str());
  }
  return out;
}

}  // namespace regionlm::gpt4roi
