#include "region/polygon_raster.hpp"

#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace regionlm::region::detail {
namespace {

// COCO's rule: vertices are snapped to a grid 5x finer than the pixels, the boundary is
// walked as an 8-connected chain of grid points, and wherever the chain steps across the
// vertical line through a column of pixel centres (between grid columns 5c+2 and 5c+3) the
// fill state of that pixel column flips from the first pixel centre below the crossing.
// Pixels are visited in column-major order and the flips are accumulated (even-odd rule).
constexpr int kGridScale = 5;

class CrossingCollector {
 public:
  CrossingCollector(int height, int width)
      : height_(height),
        width_(width),
        flips_(static_cast<size_t>(height) * static_cast<size_t>(width) + 1, 0) {}

  // Next point of the boundary chain, in grid units.
  void visit(int u, int v) {
    if (has_previous_ && u != previous_u_) {
      const int left = u < previous_u_ ? u : u - 1;  // grid column left of the step
      const int top = std::min(v, previous_v_);
      if (left >= 2 && (left - 2) % kGridScale == 0) {
        const int column = (left - 2) / kGridScale;
        if (column < width_) {
          // First pixel row whose centre (grid 5r+2) is at or below the crossing,
          // clamped to [0, height].
          const int row = top <= 2 ? 0 : std::min(height_, (top + 2) / kGridScale);
          flips_[static_cast<size_t>(column) * height_ + row] ^= 1;
        }
      }
    }
    previous_u_ = u;
    previous_v_ = v;
    has_previous_ = true;
  }

  cv::Mat to_mask() const {
    cv::Mat columns(width_, height_, CV_8UC1);  // column-major order of the image
    uint8_t* out = columns.ptr<uint8_t>(0);
    uint8_t inside = 0;
    const size_t pixels = static_cast<size_t>(height_) * static_cast<size_t>(width_);
    for (size_t p = 0; p < pixels; ++p) {
      inside ^= flips_[p];
      out[p] = inside;
    }
    cv::Mat mask;
    cv::transpose(columns, mask);
    return mask;
  }

 private:
  int height_;
  int width_;
  std::vector<uint8_t> flips_;  // per column-major pixel position (+1 past the end)
  bool has_previous_ = false;
  int previous_u_ = 0;
  int previous_v_ = 0;
};

// Grid coordinate of a pixel coordinate: COCO rounds with a C cast of `5x + 0.5`, which
// truncates toward zero (so negative values round differently from floor); kept as is.
int to_grid(double coordinate) { return static_cast<int>(kGridScale * coordinate + 0.5); }

// Walks one edge along its major axis, always from the smaller to the larger major
// coordinate (so an edge gives the same points in both directions), but emits the points
// in the edge's own direction so the chain stays continuous.
void walk_edge(int xs, int ys, int xe, int ye, CrossingCollector& chain) {
  const int dx = std::abs(xe - xs);
  const int dy = std::abs(ye - ys);
  if (dx == 0 && dy == 0) {
    chain.visit(xs, ys);
    return;
  }
  const bool x_major = dx >= dy;
  const bool reversed = x_major ? xs > xe : ys > ye;
  if (reversed) {
    std::swap(xs, xe);
    std::swap(ys, ye);
  }
  const int steps = x_major ? dx : dy;
  const double slope = x_major ? static_cast<double>(ye - ys) / dx
                               : static_cast<double>(xe - xs) / dy;
  for (int d = 0; d <= steps; ++d) {
    const int t = reversed ? steps - d : d;
    if (x_major) {
      chain.visit(xs + t, static_cast<int>(ys + slope * t + 0.5));
    } else {
      chain.visit(static_cast<int>(xs + slope * t + 0.5), ys + t);
    }
  }
}

}  // namespace

cv::Mat rasterize_polygon(const std::vector<cv::Point2d>& points, int height, int width) {
  CrossingCollector chain(height, width);
  const size_t n = points.size();
  for (size_t j = 0; j < n; ++j) {
    const cv::Point2d& a = points[j];
    const cv::Point2d& b = points[(j + 1) % n];  // closing edge back to the first vertex
    walk_edge(to_grid(a.x), to_grid(a.y), to_grid(b.x), to_grid(b.y), chain);
  }
  return chain.to_mask();
}

}  // namespace regionlm::region::detail
