#include "regionlm/region/masks.hpp"

#include <opencv2/core.hpp>

#include <cstring>
#include <string>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm {

torch::Tensor regions_to_masks(const std::vector<Region>& regions, int height, int width,
                               const torch::Device& device, bool allow_resize) {
  if (height <= 0 || width <= 0) {
    throw ArgumentError("regions_to_masks: image size must be positive, got " +
                        std::to_string(height) + "x" + std::to_string(width) +
                        " (height x width)");
  }
  if (static_cast<int64_t>(regions.size()) > limits::kMaxRegions) {
    throw ArgumentError("regions_to_masks: " + std::to_string(regions.size()) + " regions; at most " +
                        std::to_string(limits::kMaxRegions) + " (limits::kMaxRegions)");
  }
  if (height > limits::kMaxImageSide || width > limits::kMaxImageSide ||
      int64_t{height} * width > limits::kMaxImagePixels) {
    throw ArgumentError("regions_to_masks: image size " + std::to_string(height) + "x" + std::to_string(width) +
                        " (height x width) exceeds limits::kMaxImageSide (" + std::to_string(limits::kMaxImageSide) +
                        " px a side) or limits::kMaxImagePixels (" + std::to_string(limits::kMaxImagePixels) +
                        " pixels)");
  }
  const auto q = static_cast<int64_t>(regions.size());
  // Rasterised on the host into one buffer (pinned when the target is a GPU) so the
  // upload is a single asynchronous copy.
  auto host = torch::empty({q, height, width},
                           torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(
                               device.is_cuda()));  // [Q, H, W]
  const size_t plane = static_cast<size_t>(height) * static_cast<size_t>(width);
  uint8_t* out = host.data_ptr<uint8_t>();
  for (size_t i = 0; i < regions.size(); ++i) {
    const Region& region = regions[i];
    const auto fail = [&](const std::string& why) {
      throw ArgumentError("region " + std::to_string(i) + " (" + region.describe() + "): " +
                          why);
    };
    Region::Raster raster = region.try_rasterize(height, width, allow_resize);
    if (!raster.problem.empty()) fail(raster.problem);
    if (cv::countNonZero(raster.mask) == 0) {
      const std::string image = std::to_string(height) + "x" + std::to_string(width);
      fail(region.kind() == Region::Kind::Box
               ? "box covers no pixel of the " + image +
                     " image (a pixel is covered when its centre is inside)"
               : "region is empty: no pixel of the " + image + " image is inside it");
    }
    const cv::Mat contiguous = raster.mask.isContinuous() ? raster.mask : raster.mask.clone();
    std::memcpy(out + i * plane, contiguous.ptr<uint8_t>(0), plane);
  }
  return host.to(device, /*non_blocking=*/device.is_cuda());  // [Q, H, W]
}

}  // namespace regionlm
