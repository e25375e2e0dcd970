#include "segment/overlay.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "regionlm/error.hpp"

namespace regionlm::examples {

void write_overlay(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks, const std::vector<sam::Point>& points,
                   const std::optional<sam::Box>& box, const std::filesystem::path& out) {
  static const cv::Scalar kColours[] = {{30, 144, 255}, {255, 160, 30}, {50, 205, 50},  {220, 20, 60},
                                        {148, 0, 211},  {0, 206, 209},  {255, 215, 0}, {255, 105, 180}};
  cv::Mat canvas = rgb8.clone();
  for (size_t i = 0; i < masks.size(); ++i) {
    const cv::Scalar colour = kColours[i % std::size(kColours)];
    cv::Mat tint(canvas.size(), CV_8UC3, colour);
    cv::Mat blended;
    cv::addWeighted(canvas, 0.5, tint, 0.5, 0.0, blended);
    blended.copyTo(canvas, masks[i]);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(masks[i].clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    cv::drawContours(canvas, contours, -1, colour, 2);
  }
  const int radius = std::max(3, std::min(canvas.rows, canvas.cols) / 100);
  for (const auto& p : points) {
    const cv::Point centre(static_cast<int>(p.x), static_cast<int>(p.y));
    cv::circle(canvas, centre, radius + 1, cv::Scalar(255, 255, 255), cv::FILLED);
    cv::circle(canvas, centre, radius, p.label == 1 ? cv::Scalar(0, 200, 0) : cv::Scalar(220, 0, 0), cv::FILLED);
  }
  if (box) {
    cv::rectangle(canvas, cv::Point(static_cast<int>((*box)[0]), static_cast<int>((*box)[1])),
                  cv::Point(static_cast<int>((*box)[2]), static_cast<int>((*box)[3])), cv::Scalar(0, 255, 0), 2);
  }
  cv::Mat bgr;
  cv::cvtColor(canvas, bgr, cv::COLOR_RGB2BGR);
  bool ok = false;
  try {
    ok = cv::imwrite(out.string(), bgr);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw IoError("cannot write overlay image " + out.string());
}

}  // namespace regionlm::examples
