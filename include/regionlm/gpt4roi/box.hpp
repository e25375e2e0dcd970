#pragma once
// GPT4RoI's region input: an axis-aligned box on the original image.
#include <string>
#include <vector>

#include "regionlm/region/region.hpp"

namespace regionlm::gpt4roi {

/// A box on the original image, pixels, x to the right, y down: (x1, y1) top-left and
/// (x2, y2) bottom-right corner, 0 <= x1 < x2 <= width, 0 <= y1 < y2 <= height. GPT4RoI
/// normalises it by the image size (xyxy / (W, H, W, H)).
struct Box {
  double x1 = 0;  // left edge, px
  double y1 = 0;  // top edge, px
  double x2 = 0;  // right edge, px
  double y2 = 0;  // bottom edge, px
};

/// The bounding box of any regionlm::Region (mask, polygon, RLE, box) rasterised at
/// width x height: the smallest pixel-aligned box holding every pixel of the region (so a
/// Region::from_box comes back on whole pixels). This is how a mask region reaches GPT4RoI,
/// which only understands boxes. Throws ArgumentError (naming the region) for a region that
/// cannot be rasterised at that size or has no pixel inside the image.
Box box_of(const Region& region, int width, int height);

/// Regions of any kind as GPT4RoI boxes, with a note for each one that was not a box already:
/// a box region keeps its corners exactly as given (Region::box(), so sub-pixel boxes stay
/// sub-pixel and a box reaching outside the image is refused later, naming it); any other
/// region becomes box_of(region).
struct RegionBoxes {
  std::vector<Box> boxes;          // one per region, in order
  std::vector<std::string> notes;  // one per region: "" for a box, else e.g. "region 2 (mask
                                   // 150x200) was used as its bounding box (20, 30, 90, 110): ..."
};
/// ArgumentError as box_of, naming the region's position.
RegionBoxes boxes_of(const std::vector<Region>& regions, int width, int height);

}  // namespace regionlm::gpt4roi
