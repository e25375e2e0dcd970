#pragma once
// Scribbles as SAM prompts. SAM takes points, not strokes, so a scribble becomes prompt points
// sampled along it. The rule (documented in docs/segment.md):
//  - a polyline: its first vertex, then a point every `spacing` px of arc length, then its
//    last vertex; when that gives more than `max_points`, the spacing widens to
//    length / (max_points - 1) so exactly max_points points are spread evenly (first and last
//    included). A single vertex gives one point; repeated vertices add no length.
//  - a scribble mask (pixels drawn by the user): its pixel nearest the mask's centroid
//    first, then repeatedly the mask pixel farthest from all points chosen so far (farthest-
//    point sampling, ties broken in raster order), until `max_points` points or until no
//    pixel is farther than `spacing` px from the chosen ones. Points are pixel indices (x, y).
// Every sampled point carries the scribble's label (1 positive, 0 negative), so a negative
// scribble excludes what it crosses.
#include <opencv2/core.hpp>

#include <vector>

#include "regionlm/sam/prompt.hpp"

namespace regionlm::sam {

/// How scribbles are sampled.
struct ScribbleOptions {
  double spacing = 24.0;  // px of arc length between sampled points; default 24
  int max_points = 8;     // most points one scribble contributes; default 8
};

/// Points along a polyline (original-image px). Throws ArgumentError for an empty polyline,
/// a non-finite vertex, a label other than 0/1 or options out of range (spacing <= 0,
/// max_points < 1).
std::vector<Point> scribble_points(const std::vector<cv::Point2d>& polyline, int label = 1,
                                   const ScribbleOptions& options = {});

/// Points on a scribble mask (CV_8UC1, non-zero = drawn). Throws ArgumentError for an empty
/// mask, another type, no drawn pixel, a bad label or options out of range.
std::vector<Point> scribble_points(const cv::Mat& scribble_mask, int label = 1, const ScribbleOptions& options = {});

}  // namespace regionlm::sam
