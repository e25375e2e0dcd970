// COCO region JSON (RLE objects, annotations with RLE or polygon segmentations, lists of them)
// and every region it yields rasterised; byte 0 = 'R' instead feeds the rest to the compressed
// RLE decoder directly (byte 1, 2 = height, width), which the JSON path reaches only through
// valid JSON strings.
#include <opencv2/core.hpp>

#include <string>

#include "regionlm/error.hpp"
#include "regionlm/region/coco_json.hpp"
#include "regionlm/region/rle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 'R') {
    const std::string counts(reinterpret_cast<const char*>(data) + 3, size - 3);
    try {
      const cv::Mat mask = regionlm::rle_decode(counts, data[1] + 1, data[2] + 1);
      // Whatever the spelling decoded, its canonical encoding must decode to the same mask.
      const cv::Mat again = regionlm::rle_decode(regionlm::rle_encode(mask), mask.rows, mask.cols);
      if (cv::countNonZero(mask != again) != 0) __builtin_trap();
    } catch (const regionlm::Error&) {
    }
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const regionlm::Region& region : regionlm::parse_coco_regions(text, "regions.json")) {
      // At most 64x64 target pixels; RLE of another size is resized (as --rle-json allows).
      (void)region.try_rasterize(48, 64, /*allow_resize=*/true);
      (void)region.describe();
    }
  } catch (const regionlm::Error&) {
  }
  return 0;
}
