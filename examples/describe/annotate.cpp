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

/// A filled label box with text, kept inside the canvas.
void put_label(cv::Mat& canvas, const std::string& text, cv::Point anchor, const cv::Scalar& colour, double scale,
               int thickness) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
  const int pad = std::max(2, static_cast<int>(4 * scale));
  const int w = size.width + 2 * pad;
  const int h = size.height + baseline + 2 * pad;
  int x = std::clamp(anchor.x, 0, std::max(0, canvas.cols - w));
  int y = anchor.y - h;  // above the region when there is room
  if (y < 0) y = std::min(anchor.y, std::max(0, canvas.rows - h));
  cv::rectangle(canvas, cv::Rect(x, y, std::min(w, canvas.cols), std::min(h, canvas.rows)), colour, cv::FILLED);
  cv::putText(canvas, text, cv::Point(x + pad, y + pad + size.height), cv::FONT_HERSHEY_SIMPLEX, scale,
              text_colour_on(colour), thickness, cv::LINE_AA);
}

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
                           const std::filesystem::path& out) {
  const int factor = std::max(1, static_cast<int>(std::ceil(static_cast<double>(kMinShortSide) /
                                                            std::min(rgb8.rows, rgb8.cols))));
  cv::Mat canvas;
  cv::resize(rgb8, canvas, cv::Size(), factor, factor, cv::INTER_NEAREST);
  const double scale = std::max(0.5, std::min(canvas.rows, canvas.cols) / 900.0);
  const int thickness = std::max(1, static_cast<int>(std::round(scale * 2)));

  for (size_t i = 0; i < masks.size(); ++i) {
    const cv::Scalar colour = kPalette[i % std::size(kPalette)];
    cv::Mat mask;
    cv::resize(masks[i] != 0, mask, canvas.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(mask, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(canvas, contours, -1, colour, std::max(2, thickness + 1), cv::LINE_AA);
    const cv::Rect box = cv::boundingRect(mask);
    if (i < labels.size() && !labels[i].empty()) put_label(canvas, shorten(labels[i]), box.tl(), colour, scale, thickness);
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

  cv::Mat bgr;
  cv::cvtColor(canvas, bgr, cv::COLOR_RGB2BGR);
  bool written = false;
  try {
    written = cv::imwrite(out.string(), bgr);
  } catch (const cv::Exception& e) {
    throw IoError("cannot write annotated image " + out.string() + ": " + e.what());
  }
  if (!written) throw IoError("cannot write annotated image " + out.string());
}

}  // namespace regionlm::examples
