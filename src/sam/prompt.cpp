#include "regionlm/sam/prompt.hpp"

#include <torch/torch.h>

#include <numeric>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

int64_t Masks::best() const {
  if (count() == 0) throw ArgumentError("Masks::best: no masks");
  return order().front();
}

std::vector<int64_t> Masks::order() const {
  const auto scores = iou_predictions.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* s = scores.data_ptr<float>();
  std::vector<int64_t> idx(static_cast<size_t>(scores.numel()));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  return idx;
}

cv::Mat Masks::mask(int64_t i) const {
  if (i < 0 || i >= count()) {
    throw ArgumentError("Masks::mask: index " + std::to_string(i) + " out of range (" + std::to_string(count()) +
                        " masks)");
  }
  const auto m = masks[i].to(torch::kCPU, torch::kUInt8).contiguous();  // [H, W]
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_8UC1, m.data_ptr()).clone();
}

Region Masks::region(int64_t i) const { return Region::from_mask(mask(i)); }

}  // namespace regionlm::sam
