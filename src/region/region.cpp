#include "regionlm/region/region.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <sstream>
#include <type_traits>

#include "region/polygon_raster.hpp"
#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string size_text(int height, int width) {
  return std::to_string(height) + "x" + std::to_string(width);
}

// Brings a 0/1 mask of another size to the image's size, or explains why not.
Region::Raster fit_to_image(cv::Mat mask01, int height, int width, bool allow_resize,
                            const char* what) {
  if (mask01.rows == height && mask01.cols == width) return {std::move(mask01), {}};
  if (!allow_resize) {
    return {cv::Mat(), std::string(what) + " is " + size_text(mask01.rows, mask01.cols) +
                           " but the image is " + size_text(height, width) +
                           " (height x width); pass allow_resize to rescale it"};
  }
  cv::Mat resized;
  cv::resize(mask01, resized, cv::Size(width, height), 0, 0, cv::INTER_NEAREST_EXACT);
  return {std::move(resized), {}};
}

// Problem with a polygon's vertices, or empty when they are usable.
std::string check_polygon(const std::vector<cv::Point2d>& points, size_t index,
                          bool several) {
  const std::string name = several ? "polygon " + std::to_string(index) : "polygon";
  if (points.size() < 3) {
    return name + " has " + std::to_string(points.size()) + " points; at least 3 are needed";
  }
  for (size_t k = 0; k < points.size(); ++k) {
    const cv::Point2d& p = points[k];
    if (!std::isfinite(p.x) || !std::isfinite(p.y) ||
        std::abs(p.x) > region::detail::kMaxPolygonCoordinate ||
        std::abs(p.y) > region::detail::kMaxPolygonCoordinate) {
      std::ostringstream out;
      out << name << " point " << k << " (" << p.x << ", " << p.y
          << ") is not a finite coordinate within +-"
          << region::detail::kMaxPolygonCoordinate << " px";
      return out.str();
    }
  }
  return {};
}

}  // namespace

Region Region::from_mask(const cv::Mat& mask) { return Region(MaskData{mask.clone()}); }

Region Region::from_box(double x0, double y0, double x1, double y1) {
  return Region(BoxData{{x0, y0, x1, y1}});
}

Region Region::from_polygon(const std::vector<cv::Point2d>& points) {
  return Region(PolygonData{{points}});
}

Region Region::from_polygons(const std::vector<std::vector<cv::Point2d>>& polygons) {
  return Region(PolygonData{polygons});
}

Region Region::from_rle(const std::string& counts, int height, int width) {
  RleData rle;
  rle.compressed = counts;
  rle.height = height;
  rle.width = width;
  return Region(std::move(rle));
}

Region Region::from_rle(const std::vector<uint32_t>& counts, int height, int width) {
  RleData rle;
  rle.counts = counts;
  rle.uncompressed_given = true;
  rle.height = height;
  rle.width = width;
  return Region(std::move(rle));
}

std::optional<std::array<double, 4>> Region::box() const {
  if (const auto* b = std::get_if<BoxData>(&data_)) return b->xyxy;
  return std::nullopt;
}

Region::Kind Region::kind() const {
  return std::visit(Overloaded{[](const MaskData&) { return Kind::Mask; },
                               [](const BoxData&) { return Kind::Box; },
                               [](const PolygonData&) { return Kind::Polygon; },
                               [](const RleData&) { return Kind::Rle; }},
                    data_);
}

Region::Raster Region::try_rasterize(int height, int width, bool allow_resize) const {
  if (height <= 0 || width <= 0) {
    return {cv::Mat(), "image size must be positive, got " + size_text(height, width)};
  }
  if (height > limits::kMaxImageSide || width > limits::kMaxImageSide ||
      int64_t{height} * width > limits::kMaxImagePixels) {
    return {cv::Mat(), "image size " + size_text(height, width) + " exceeds limits::kMaxImageSide (" +
                           std::to_string(limits::kMaxImageSide) + " px a side) or limits::kMaxImagePixels (" +
                           std::to_string(limits::kMaxImagePixels) + " pixels)"};
  }
  return std::visit(
      Overloaded{
          [&](const MaskData& d) -> Raster {
            if (d.mask.empty()) return {cv::Mat(), "mask has no pixels"};
            if (d.mask.dims != 2 || d.mask.channels() != 1) {
              return {cv::Mat(), "mask has " + std::to_string(d.mask.channels()) +
                                     " channels; a single-channel 2-D matrix is expected"};
            }
            cv::Mat mask01;
            cv::compare(d.mask, 0, mask01, cv::CMP_NE);  // 255 where non-zero
            mask01 &= 1;
            return fit_to_image(std::move(mask01), height, width, allow_resize, "mask");
          },
          [&](const BoxData& d) -> Raster {
            const auto [x0, y0, x1, y1] = d.xyxy;
            if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) ||
                !std::isfinite(y1)) {
              return {cv::Mat(), "box coordinates must be finite"};
            }
            if (x1 < x0 || y1 < y0) {
              return {cv::Mat(), "box corners must satisfy x0 <= x1 and y0 <= y1"};
            }
            // Clipping to one pixel beyond the image changes no pixel inside it and keeps
            // the rasteriser's grid small.
            const auto clip_x = [&](double x) { return std::clamp(x, -1.0, width + 1.0); };
            const auto clip_y = [&](double y) { return std::clamp(y, -1.0, height + 1.0); };
            const double cx0 = clip_x(x0), cx1 = clip_x(x1), cy0 = clip_y(y0), cy1 = clip_y(y1);
            // COCO turns [x, y, w, h] into this vertex order before rasterising.
            const std::vector<cv::Point2d> corners{{cx0, cy0}, {cx0, cy1}, {cx1, cy1}, {cx1, cy0}};
            return {region::detail::rasterize_polygon(corners, height, width), {}};
          },
          [&](const PolygonData& d) -> Raster {
            if (d.polygons.empty()) return {cv::Mat(), "no polygon given"};
            const bool several = d.polygons.size() > 1;
            for (size_t i = 0; i < d.polygons.size(); ++i) {
              if (std::string problem = check_polygon(d.polygons[i], i, several);
                  !problem.empty()) {
                return {cv::Mat(), problem};
              }
            }
            cv::Mat mask = region::detail::rasterize_polygon(d.polygons[0], height, width);
            for (size_t i = 1; i < d.polygons.size(); ++i) {
              mask |= region::detail::rasterize_polygon(d.polygons[i], height, width);
            }
            return {std::move(mask), {}};
          },
          [&](const RleData& d) -> Raster {
            cv::Mat mask01;
            try {
              mask01 = d.uncompressed_given
                           ? rle_counts_to_mask(d.counts, d.height, d.width)
                           : rle_decode(d.compressed, d.height, d.width);
            } catch (const ArgumentError& e) {
              return {cv::Mat(), e.what()};
            }
            return fit_to_image(std::move(mask01), height, width, allow_resize, "RLE mask");
          }},
      data_);
}

cv::Mat Region::rasterize(int height, int width, bool allow_resize) const {
  Raster raster = try_rasterize(height, width, allow_resize);
  if (!raster.problem.empty()) throw ArgumentError(describe() + ": " + raster.problem);
  return std::move(raster.mask);
}

std::string Region::describe() const {
  return std::visit(
      Overloaded{
          [](const MaskData& d) {
            return d.mask.empty() ? std::string("mask (empty)")
                                  : "mask " + size_text(d.mask.rows, d.mask.cols);
          },
          [](const BoxData& d) {
            std::ostringstream out;
            out << "box (" << d.xyxy[0] << ", " << d.xyxy[1] << ", " << d.xyxy[2] << ", "
                << d.xyxy[3] << ")";
            return out.str();
          },
          [](const PolygonData& d) {
            size_t points = 0;
            for (const auto& polygon : d.polygons) points += polygon.size();
            std::ostringstream out;
            if (d.polygons.size() == 1) {
              out << "polygon";
            } else {
              out << d.polygons.size() << " polygons";
            }
            out << " (" << points << " points)";
            return out.str();
          },
          [](const RleData& d) { return "RLE " + size_text(d.height, d.width); }},
      data_);
}

}  // namespace regionlm
