#pragma once
// Regions from COCO-style JSON text: what `--rle-json` files and dataset annotations hold.
// Accepted documents: one region or a list of them, each either a segmentation itself or an
// annotation object carrying one under "segmentation":
//   RLE        {"size": [height, width], "counts": "<compressed>" | [run, run, ...]}
//   polygons   [[x0, y0, x1, y1, ...], ...]  (COCO's polygon segmentation, one list per part)
// Nothing is rasterised here; sizes are checked against limits::kMaxImageSide/kMaxImagePixels
// and the number of regions against limits::kMaxRegions before anything is allocated.
#include <string>
#include <vector>

#include "regionlm/region/region.hpp"

namespace regionlm {

/// Parses the document above. Throws FormatError naming `source`, the entry and the field for
/// invalid JSON, nesting deeper than limits::kMaxJsonDepth, a wrong type, a size outside
/// 1..kMaxImageSide, more than kMaxImagePixels pixels, more than kMaxRegions regions,
/// run lengths that are not 0..4294967295, or polygons with an odd number of coordinates.
std::vector<Region> parse_coco_regions(const std::string& json_text, const std::string& source);

}  // namespace regionlm
