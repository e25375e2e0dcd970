#include "regionlm/sam/scribble.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

namespace {

void check(int label, const ScribbleOptions& options) {
  if (label != 0 && label != 1) throw ArgumentError("scribble label " + std::to_string(label) + " must be 1 or 0");
  if (!(options.spacing > 0) || !std::isfinite(options.spacing)) {
    throw ArgumentError("ScribbleOptions::spacing must be a positive number of pixels");
  }
  if (options.max_points < 1) throw ArgumentError("ScribbleOptions::max_points must be at least 1");
}

}  // namespace

std::vector<Point> scribble_points(const std::vector<cv::Point2d>& polyline, int label,
                                   const ScribbleOptions& options) {
  check(label, options);
  if (polyline.empty()) throw ArgumentError("scribble: the polyline has no vertex");
  for (size_t i = 0; i < polyline.size(); ++i) {
    if (!std::isfinite(polyline[i].x) || !std::isfinite(polyline[i].y)) {
      throw ArgumentError("scribble vertex " + std::to_string(i) + " is not finite");
    }
  }
  std::vector<double> cumulative(polyline.size(), 0.0);  // arc length at each vertex
  for (size_t i = 1; i < polyline.size(); ++i) {
    cumulative[i] = cumulative[i - 1] + std::hypot(polyline[i].x - polyline[i - 1].x, polyline[i].y - polyline[i - 1].y);
  }
  const double length = cumulative.back();
  if (length == 0.0 || options.max_points == 1) return {{polyline.front().x, polyline.front().y, label}};
  double spacing = options.spacing;
  // Points at 0, s, 2s, ... strictly before the end, plus the end.
  auto count_for = [&](double s) { return static_cast<int>(std::ceil(length / s - 1e-9)) + 1; };
  if (count_for(spacing) > options.max_points) spacing = length / (options.max_points - 1);
  std::vector<double> stations;
  for (int k = 0; k * spacing < length - 1e-9 && static_cast<int>(stations.size()) < options.max_points - 1; ++k) {
    stations.push_back(k * spacing);
  }
  stations.push_back(length);
  std::vector<Point> points;
  size_t segment = 1;
  for (double s : stations) {
    while (segment + 1 < polyline.size() && cumulative[segment] < s) ++segment;
    const double seg_len = cumulative[segment] - cumulative[segment - 1];
    const double t = seg_len > 0 ? std::clamp((s - cumulative[segment - 1]) / seg_len, 0.0, 1.0) : 0.0;
    const auto& a = polyline[segment - 1];
    const auto& b = polyline[segment];
    points.push_back({a.x + t * (b.x - a.x), a.y + t * (b.y - a.y), label});
  }
  return points;
}

std::vector<Point> scribble_points(const cv::Mat& scribble_mask, int label, const ScribbleOptions& options) {
  check(label, options);
  if (scribble_mask.empty() || scribble_mask.type() != CV_8UC1) {
    throw ArgumentError("scribble mask: expected a non-empty CV_8UC1 matrix, got type " +
                        cv::typeToString(scribble_mask.type()));
  }
  std::vector<cv::Point> pixels;
  cv::findNonZero(scribble_mask, pixels);  // raster order
  if (pixels.empty()) throw ArgumentError("scribble mask: no pixel is drawn");
  double cx = 0, cy = 0;
  for (const auto& p : pixels) {
    cx += p.x;
    cy += p.y;
  }
  cx /= pixels.size();
  cy /= pixels.size();
  size_t first = 0;
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < pixels.size(); ++i) {
    const double d = std::hypot(pixels[i].x - cx, pixels[i].y - cy);
    if (d < best) {
      best = d;
      first = i;
    }
  }
  std::vector<double> distance(pixels.size(), std::numeric_limits<double>::infinity());
  std::vector<Point> points;
  size_t next = first;
  while (true) {
    const cv::Point chosen = pixels[next];
    points.push_back({static_cast<double>(chosen.x), static_cast<double>(chosen.y), label});
    if (static_cast<int>(points.size()) >= options.max_points) break;
    double farthest = -1;
    for (size_t i = 0; i < pixels.size(); ++i) {
      distance[i] = std::min(distance[i], std::hypot(double(pixels[i].x - chosen.x), double(pixels[i].y - chosen.y)));
      if (distance[i] > farthest) {
        farthest = distance[i];
        next = i;
      }
    }
    if (farthest <= options.spacing) break;
  }
  return points;
}

}  // namespace regionlm::sam
