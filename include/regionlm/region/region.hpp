#pragma once
// A region of an image, as a user describes it: a binary mask, a box, polygons or COCO RLE.
// A Region is only a description: it is validated and turned into pixels against a
// concrete image size by `rasterize` (or, for a whole request, `regions_to_masks`), because
// most rules (right size, at least one pixel inside the image) depend on that size.
// Construction therefore never throws for content.
#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "regionlm/region/rle.hpp"

namespace regionlm {

class Region {
 public:
  enum class Kind { Mask, Box, Polygon, Rle };

  /// A binary mask at the image's size: one channel, any depth, non-zero = inside.
  /// The pixels are copied.
  static Region from_mask(const cv::Mat& mask);
  /// A filled rectangle in pixel coordinates, x to the right, y down, (0, 0) the top-left
  /// corner of the top-left pixel. The far corner is exclusive: pixels whose centres lie
  /// inside the rectangle are in, so integer corners cover columns x0 .. x1-1 and rows
  /// y0 .. y1-1 (the COCO [x, y, w, h] convention, rasterised as pycocotools does).
  /// Parts outside the image are clipped.
  static Region from_box(double x0, double y0, double x1, double y1);
  /// A filled polygon (>= 3 vertices, pixel coordinates as for boxes), rasterised exactly
  /// as pycocotools rasterises COCO polygons (even-odd fill, pixel centres on a 1/5 px grid).
  static Region from_polygon(const std::vector<cv::Point2d>& points);
  /// The union of several polygons (a COCO polygon segmentation with several parts).
  static Region from_polygons(const std::vector<std::vector<cv::Point2d>>& polygons);
  /// COCO RLE, compressed string form (`{"size": [height, width], "counts": "..."}`).
  static Region from_rle(const std::string& counts, int height, int width);
  /// COCO RLE, uncompressed run lengths (column-major, first run = zeros).
  static Region from_rle(const std::vector<uint32_t>& counts, int height, int width);

  Kind kind() const;

  /// The corners (x0, y0, x1, y1) of a box region exactly as given (not clipped or rounded);
  /// nullopt for the other kinds. GPT4RoI reads boxes this way, not through rasterize.
  std::optional<std::array<double, 4>> box() const;

  /// The region as a height x width CV_8UC1 matrix of 0/1. A mask or RLE of another size
  /// is an ArgumentError unless `allow_resize`, which rescales it with nearest-neighbour
  /// sampling at pixel centres (cv::INTER_NEAREST_EXACT). Throws ArgumentError for
  /// malformed input (bad RLE, fewer than 3 polygon vertices, non-finite coordinates,
  /// x1 < x0, ...); the message starts with `describe()`. An all-zero result is returned
  /// as is: rejecting empty regions is `regions_to_masks`' job.
  cv::Mat rasterize(int height, int width, bool allow_resize = false) const;

  /// Result of `try_rasterize`: the mask, or an empty Mat and the reason.
  struct Raster {
    cv::Mat mask;         // CV_8UC1 0/1 at the requested size; empty on failure
    std::string problem;  // why it could not be rasterised; empty on success
  };
  /// `rasterize` that reports a problem instead of throwing (the reason does not repeat
  /// `describe()`).
  Raster try_rasterize(int height, int width, bool allow_resize = false) const;

  /// Short text for messages, e.g. "box (10, 20, 50, 60)", "mask 480x640",
  /// "polygon (5 points)", "RLE 480x640" (sizes are height x width).
  std::string describe() const;

 private:
  struct MaskData {
    cv::Mat mask;
  };
  struct BoxData {
    std::array<double, 4> xyxy;
  };
  struct PolygonData {
    std::vector<std::vector<cv::Point2d>> polygons;
  };
  struct RleData {
    std::string compressed;            // used when !uncompressed_given
    std::vector<uint32_t> counts;      // used when uncompressed_given
    bool uncompressed_given = false;
    int height = 0;
    int width = 0;
  };
  using Data = std::variant<MaskData, BoxData, PolygonData, RleData>;

  explicit Region(Data data) : data_(std::move(data)) {}

  Data data_;
};

}  // namespace regionlm
