#include "regionlm/gpt4roi/roi_align.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "regionlm/error.hpp"
#include "shape_text.hpp"

namespace regionlm::gpt4roi {
namespace {

// Rois gathered at once: bounds the gathered values to C x chunk x (P*S)^2 x 4 elements.
constexpr int64_t kRoiChunk = 16;

// One axis of the sampling grid, the way torchvision's kernel computes it (float32 math in
// the same order): sample positions, the two neighbouring pixel indices and their weights.
struct Axis {
  torch::Tensor low, high;        // [K, P, S] int64
  torch::Tensor w_low, w_high;    // [K, P, S] float32 (zero for samples off the map)
};

Axis sample_axis(const torch::Tensor& start, const torch::Tensor& bin, int64_t pooled,
                 int64_t samples, int64_t size) {
  const auto f32 = start.options();
  const auto p = torch::arange(pooled, f32).view({1, pooled, 1});                // [1, P, 1]
  const auto s = (torch::arange(samples, f32) + 0.5f).view({1, 1, samples});     // [1, 1, S]
  const auto b = bin.view({-1, 1, 1});                                           // [K, 1, 1]
  // y = roi_start + p * bin + (s + 0.5) * bin / S
  auto pos = start.view({-1, 1, 1}) + p * b + s * b / static_cast<float>(samples);  // [K, P, S]
  const auto valid = (pos >= -1.0f) & (pos <= static_cast<float>(size));           // [K, P, S]
  pos = pos.clamp_min(0.0f);
  auto low = pos.floor().to(torch::kInt64);                                        // [K, P, S]
  const auto at_edge = low >= size - 1;                                            // [K, P, S]
  low = low.clamp_max(size - 1);
  const auto high = torch::where(at_edge, low, low + 1);
  pos = torch::where(at_edge, low.to(torch::kFloat32), pos);
  const auto frac = pos - low.to(torch::kFloat32);                                 // [K, P, S]
  const auto mask = valid.to(torch::kFloat32);
  return {low, high, (1.0f - frac) * mask, frac * mask};
}

}  // namespace

torch::Tensor roi_align(const torch::Tensor& features, const torch::Tensor& rois,
                        const RoiAlignOptions& options) {
  if (features.dim() != 4 || !features.is_floating_point()) {
    throw ShapeError("roi_align: expected floating-point features [B, C, H, W], got " +
                     shape_text(features.sizes()));
  }
  if (rois.dim() != 2 || rois.size(1) != 5) {
    throw ShapeError("roi_align: expected rois [K, 5] (batch index, x1, y1, x2, y2), got " +
                     shape_text(rois.sizes()));
  }
  if (rois.device() != features.device()) {
    throw ShapeError("roi_align: rois are on " + rois.device().str() + ", features on " +
                     features.device().str());
  }
  if (options.output_size <= 0 || options.sampling_ratio <= 0) {
    throw ArgumentError("roi_align: output_size and sampling_ratio must be positive, got " +
                        std::to_string(options.output_size) + " and " +
                        std::to_string(options.sampling_ratio));
  }
  const int64_t batch = features.size(0), channels = features.size(1);
  const int64_t height = features.size(2), width = features.size(3);
  const int64_t k_total = rois.size(0);
  const int64_t p = options.output_size, s = options.sampling_ratio;
  if (k_total == 0) return torch::zeros({0, channels, p, p}, features.options());

  const auto r = rois.to(torch::kFloat32);                           // [K, 5]
  const auto index = r.select(1, 0).to(torch::kInt64);               // [K]
  const int64_t min_index = index.min().item<int64_t>();
  const int64_t max_index = index.max().item<int64_t>();
  if (min_index < 0 || max_index >= batch) {
    throw ShapeError("roi_align: roi batch index outside [0, " + std::to_string(batch) + ")");
  }
  const float scale = static_cast<float>(options.spatial_scale);
  const float offset = options.aligned ? 0.5f : 0.0f;
  const auto x1 = r.select(1, 1) * scale - offset;                   // [K]
  const auto y1 = r.select(1, 2) * scale - offset;                   // [K]
  auto roi_w = r.select(1, 3) * scale - offset - x1;                 // [K]
  auto roi_h = r.select(1, 4) * scale - offset - y1;                 // [K]
  if (!options.aligned) {
    roi_w = roi_w.clamp_min(1.0f);
    roi_h = roi_h.clamp_min(1.0f);
  }
  const Axis ya = sample_axis(y1, roi_h / static_cast<float>(p), p, s, height);
  const Axis xa = sample_axis(x1, roi_w / static_cast<float>(p), p, s, width);

  // Values as [C, B * H * W]; corner (y, x) of roi k is column index_k * H * W + y * W + x.
  const auto flat = features.permute({1, 0, 2, 3}).reshape({channels, batch * height * width});
  const auto base = (index * (height * width)).view({-1, 1, 1, 1, 1});  // [K, 1, 1, 1, 1]
  auto corner = [&](const torch::Tensor& y, const torch::Tensor& x) {
    // [K, P, S, 1, 1] and [K, 1, 1, P, S] -> [K, P, S, P, S]
    return base + y.view({-1, p, s, 1, 1}) * width + x.view({-1, 1, 1, p, s});
  };
  auto weight = [&](const torch::Tensor& wy, const torch::Tensor& wx) {
    return wy.view({-1, p, s, 1, 1}) * wx.view({-1, 1, 1, p, s});  // [K, P, S, P, S]
  };
  const auto columns = torch::stack({corner(ya.low, xa.low), corner(ya.low, xa.high),
                                     corner(ya.high, xa.low), corner(ya.high, xa.high)},
                                    -1);  // [K, P, S, P, S, 4]
  const auto weights = torch::stack({weight(ya.w_low, xa.w_low), weight(ya.w_low, xa.w_high),
                                     weight(ya.w_high, xa.w_low), weight(ya.w_high, xa.w_high)},
                                    -1)
                           .to(features.scalar_type());  // [K, P, S, P, S, 4]

  std::vector<torch::Tensor> pooled;
  for (int64_t k0 = 0; k0 < k_total; k0 += kRoiChunk) {
    const int64_t n = std::min(kRoiChunk, k_total - k0);
    const auto cols = columns.narrow(0, k0, n).reshape({-1});                    // [n*P*S*P*S*4]
    const auto values = flat.index_select(1, cols).view({channels, n, p, s, p, s, 4});  // [C, n, P, S, P, S, 4]
    const auto w = weights.narrow(0, k0, n).unsqueeze(0);                       // [1, n, P, S, P, S, 4]
    auto sum = (values * w).sum({6, 5, 3});                                     // [C, n, P, P]
    pooled.push_back(sum.permute({1, 0, 2, 3}) / static_cast<double>(s * s));   // [n, C, P, P]
  }
  return torch::cat(pooled, 0);  // [K, C, P, P]
}

}  // namespace regionlm::gpt4roi
