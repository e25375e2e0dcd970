#pragma once
// Turning a request's regions into the one mask tensor the extractor consumes.
#include <torch/types.h>

#include <vector>

#include "regionlm/region/region.hpp"

namespace regionlm {

/// Validates and rasterises every region at height x width and uploads them together:
/// [Q, height, width] uint8 0/1 on `device` (one host-to-device copy). Q = 0 gives an
/// empty [0, height, width] tensor.
/// Throws ArgumentError naming the region, 0-based, and why, e.g.
/// "region 2 (box (700, 10, 800, 50)): box covers no pixel of the 480x640 image ..." — for
/// a region with no pixel inside the image, a mask/RLE of another size (unless
/// `allow_resize`), malformed RLE or polygons, or a non-positive image size.
torch::Tensor regions_to_masks(const std::vector<Region>& regions, int height, int width,
                               const torch::Device& device, bool allow_resize = false);

}  // namespace regionlm
