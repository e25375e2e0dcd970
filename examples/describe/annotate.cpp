#include "describe/annotate.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "regionlm/error.hpp"

namespace regionlm::examples {

namespace {

// Distinct, saturated colours (RGB), reused cyclically.
const cv::Scalar kPalette[] = {{230, 25, 75},  {60, 180, 75},  {0, 130, 200},  {245, 130, 48}, {145, 30, 180},
                               {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {255, 225, 25}};
constexpr int kMinShortSide = 512;  // enlarge smaller images so labels are readable
constexpr size_t kMaxLabel = 48;    // characters of an answer shown in a label

std::string shorten(const std::string& text) {
  return text.size() <= kMaxLabel ? text : text.substr(0, kMaxLabel - 3) + "...";
}

cv::Scalar text_colour_on(const cv::Scalar& background) {
  const double luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma > 150 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
}

/// Places filled label boxes inside the canvas without covering labels placed before: above
/// the region when there is room, else below it, else the nearest free row.
class LabelPlacer {
 public:
  LabelPlacer(cv::Mat& canvas, double scale, int thickness) : canvas_(canvas), scale_(scale), thickness_(thickness) {}

  void put(const std::string& text, const cv::Rect& region, const cv::Scalar& colour) {
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale_, thickness_, &baseline);
    const int pad = std::max(2, static_cast<int>(4 * scale_));
    const int w = std::min(size.width + 2 * pad, canvas_.cols);
    const int h = std::min(size.height + baseline + 2 * pad, canvas_.rows);
    const int x = std::clamp(region.x, 0, canvas_.cols - w);
    const int lowest = canvas_.rows - h;
    std::vector<int> rows{region.y - h, region.br().y};  // preferred: just above, just below
    for (int step = 1; step * h <= canvas_.rows; ++step) {  // then outwards from the region's top
      rows.push_back(region.y - h - step * h);
      rows.push_back(region.br().y + step * h);
    }
    cv::Rect label(x, std::clamp(rows.front(), 0, lowest), w, h);
    for (const int y : rows) {
      const cv::Rect candidate(x, std::clamp(y, 0, lowest), w, h);
      if (std::none_of(placed_.begin(), placed_.end(), [&](const cv::Rect& r) { return (r & candidate).area() > 0; })) {
        label = candidate;
        break;
      }
    }
    placed_.push_back(label);
    cv::rectangle(canvas_, label, colour, cv::FILLED);
    cv::putText(canvas_, text, cv::Point(label.x + pad, label.y + pad + size.height), cv::FONT_HERSHEY_SIMPLEX, scale_,
                text_colour_on(colour), thickness_, cv::LINE_AA);
  }

 private:
  cv::Mat& canvas_;
  double scale_;
  int thickness_;
  std::vector<cv::Rect> placed_;
};

/// Splits `text` into lines no wider than `width` pixels.
std::vector<std::string> wrap(const std::string& text, int width, double scale, int thickness) {
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (!line.empty() && cv::getTextSize(candidate, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, nullptr).width > width) {
      lines.push_back(line);
      line = word;
    } else {
      line = candidate;
    }
    start = end + 1;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

void write_annotated_image(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks,
                           const std::vector<std::string>& labels, const std::string& caption,
                           const std::filesystem::path& out, const std::vector<sam::Point>& clicks) {
  const int factor = std::max(1, static_cast<int>(std::ceil(static_cast<double>(kMinShortSide) /
                                                            std::min(rgb8.rows, rgb8.cols))));
  cv::Mat canvas;
  cv::resize(rgb8, canvas, cv::Size(), factor, factor, cv::INTER_NEAREST);
  const double scale = std::max(0.5, std::min(canvas.rows, canvas.cols) / 900.0);
  const int thickness = std::max(1, static_cast<int>(std::round(scale * 2)));

  // Outlines first, then the labels on top of every outline.
  std::vector<cv::Rect> boxes;
  for (size_t i = 0; i < masks.size(); ++i) {
    cv::Mat mask;
    cv::resize(masks[i] != 0, mask, canvas.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(mask, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(canvas, contours, -1, kPalette[i % std::size(kPalette)], std::max(2, thickness + 1), cv::LINE_AA);
    boxes.push_back(cv::boundingRect(mask));
  }
  const int radius = std::max(4, std::min(canvas.rows, canvas.cols) / 80);
  for (const sam::Point& p : clicks) {
    const cv::Point centre(static_cast<int>((p.x + 0.5) * factor), static_cast<int>((p.y + 0.5) * factor));
    cv::circle(canvas, centre, radius + 2, cv::Scalar(255, 255, 255), cv::FILLED, cv::LINE_AA);
    cv::circle(canvas, centre, radius, p.label == 1 ? cv::Scalar(0, 200, 0) : cv::Scalar(220, 0, 0), cv::FILLED,
               cv::LINE_AA);
  }
  LabelPlacer placer(canvas, scale, thickness);
  for (size_t i = 0; i < masks.size() && i < labels.size(); ++i) {
    if (!labels[i].empty()) placer.put(shorten(labels[i]), boxes[i], kPalette[i % std::size(kPalette)]);
  }

  if (!caption.empty()) {
    const std::vector<std::string> lines = wrap(caption, canvas.cols - 20, scale, thickness);
    const int line_height = cv::getTextSize("Ag", cv::FONT_HERSHEY_SIMPLEX, scale, thickness, nullptr).height * 2;
    cv::Mat bar(line_height * static_cast<int>(lines.size()) + line_height / 2, canvas.cols, CV_8UC3,
                cv::Scalar(255, 255, 255));
    for (size_t l = 0; l < lines.size(); ++l) {
      cv::putText(bar, lines[l], cv::Point(10, line_height * static_cast<int>(l + 1)), cv::FONT_HERSHEY_SIMPLEX, scale,
                  cv::Scalar(0, 0, 0), thickness, cv::LINE_AA);
    }
    cv::vconcat(canvas, bar, canvas);
  }

  write_rgb_image(canvas, out);
}

void write_rgb_image(const cv::Mat& rgb8, const std::filesystem::path& out) {
  cv::Mat bgr;
  cv::cvtColor(rgb8, bgr, cv::COLOR_RGB2BGR);
  bool written = false;
  try {
    written = cv::imwrite(out.string(), bgr);
  } catch (const cv::Exception& e) {
    throw IoError("cannot write image " + out.string() + ": " + e.what());
  }
  if (!written) throw IoError("cannot write image " + out.string());
}

}  // namespace regionlm::examples
