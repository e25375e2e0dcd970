#pragma once
// Polygon rasterisation identical to pycocotools (COCO's `frPyObjects` for polygons and
// [x, y, w, h] boxes), so regions drawn here match COCO-style ground truth pixel for pixel.
#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

#include <vector>

namespace regionlm::region::detail {

/// Largest |coordinate| accepted, in pixels; keeps the 5x grid inside int and the
/// boundary walk short.
constexpr double kMaxPolygonCoordinate = 1e6;

/// One closed polygon (>= 1 finite vertices within kMaxPolygonCoordinate; the caller
/// checks) as a height x width CV_8UC1 0/1 mask.
cv::Mat rasterize_polygon(const std::vector<cv::Point2d>& points, int height, int width);

}  // namespace regionlm::region::detail
