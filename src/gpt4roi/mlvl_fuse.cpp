#include "regionlm/gpt4roi/mlvl_fuse.hpp"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::gpt4roi {
namespace {

namespace F = torch::nn::functional;

// Bilinear resize with align_corners=True, computed in float32 as the original does.
torch::Tensor resize_to(const torch::Tensor& x, const torch::Tensor& like) {
  return F::interpolate(x.to(torch::kFloat32),
                        F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{like.size(2), like.size(3)})
                            .mode(torch::kBilinear)
                            .align_corners(true))
      .to(like.scalar_type());  // [B, c, H, W] of `like`
}

// [feat, x, y]: x = linspace(-1, 1, W) along columns, y = linspace(-1, 1, H) along rows.
torch::Tensor with_coordinates(const torch::Tensor& feat) {
  const int64_t b = feat.size(0), h = feat.size(2), w = feat.size(3);
  const auto opts = feat.options();
  const auto x = torch::linspace(-1, 1, w, opts).view({1, 1, 1, w}).expand({b, 1, h, w});  // [B, 1, H, W]
  const auto y = torch::linspace(-1, 1, h, opts).view({1, 1, h, 1}).expand({b, 1, h, w});  // [B, 1, H, W]
  return torch::cat({feat, x, y}, 1);  // [B, C + 2, H, W]
}

}  // namespace

MlvlFuseImpl::MlvlFuseImpl(int64_t channels, const SpiConfig& config,
                           const torch::TensorOptions& options)
    : channels_(channels), shuffle_(channels / 4), remain_(channels - 2 * (channels / 4)) {
  if (channels < 4) {
    throw ConfigError("spi_module: the vision width " + std::to_string(channels) +
                      " is too small for the level fuse (at least 4 channels)");
  }
  input_conv = torch::nn::ModuleList();
  for (int64_t l = 0; l < config.num_levels; ++l) {
    inputs_.push_back(vision::Conv2d(
        vision::Conv2dSpec{.in_channels = channels + 2, .out_channels = channels, .kernel_size = 1},
        options));
    input_conv->push_back(inputs_.back());
  }
  fuse_convs = torch::nn::ModuleList();
  for (int64_t i = 0; i < config.num_fuse; ++i) {
    rounds_.push_back(ConvModule(channels, config.gn_groups, options));
    fuse_convs->push_back(rounds_.back());
  }
  register_module("input_conv", input_conv);
  register_module("fuse_convs", fuse_convs);
}

std::vector<torch::Tensor> MlvlFuseImpl::forward(const std::vector<torch::Tensor>& levels) {
  const auto count = static_cast<int64_t>(inputs_.size());
  if (static_cast<int64_t>(levels.size()) != count) {
    throw ShapeError("MlvlFuse: expected " + std::to_string(count) + " levels, got " +
                     std::to_string(levels.size()));
  }
  std::vector<torch::Tensor> x;
  for (int64_t l = 0; l < count; ++l) {
    const auto& feat = levels[static_cast<size_t>(l)];
    if (feat.dim() != 4 || feat.size(1) != channels_) {
      throw ShapeError("MlvlFuse: level " + std::to_string(l) + " must be [B, " +
                       std::to_string(channels_) + ", H, W], got " + c10::str(feat.sizes()));
    }
    x.push_back(inputs_[static_cast<size_t>(l)](with_coordinates(feat)));  // [B, C, H_l, W_l]
  }
  for (auto& round : rounds_) {
    std::vector<torch::Tensor> next;
    for (int64_t l = 0; l < count; ++l) {
      const auto& target = x[static_cast<size_t>(l)];
      const auto& coarser = x[static_cast<size_t>(std::min(l + 1, count - 1))];
      const auto& finer = x[static_cast<size_t>(std::max(l - 1, int64_t{0}))];
      const auto mixed = torch::cat(
          {target.narrow(1, 0, remain_),                                     // [B, R, H, W]
           resize_to(coarser.narrow(1, remain_ + shuffle_, shuffle_), target),  // [B, S, H, W]
           resize_to(finer.narrow(1, remain_, shuffle_), target)},             // [B, S, H, W]
          1);                                                                // [B, C, H, W]
      next.push_back(round(mixed));                                          // [B, C, H, W]
    }
    x = std::move(next);
  }
  return x;
}

}  // namespace regionlm::gpt4roi
