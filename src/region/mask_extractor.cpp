#include "regionlm/region/mask_extractor.hpp"

#include <torch/nn/functional/upsampling.h>

#include <string>

#include "regionlm/error.hpp"
#include "shape_text.hpp"

namespace regionlm::region {
namespace {

namespace F = torch::nn::functional;

// Bilinear, align_corners = false, no antialias: what Osprey's F.interpolate does.
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

MaskExtractorImpl::MaskExtractorImpl(std::vector<int64_t> level_channels, int64_t embed_dim,
                                     int64_t out_dim, int64_t mask_shape,
                                     const torch::TensorOptions& options)
    : level_channels_(std::move(level_channels)),
      embed_dim_(embed_dim),
      out_dim_(out_dim),
      mask_shape_(mask_shape),
      feat_linear_(nullptr),
      mask_linear_(nullptr) {
  if (level_channels_.empty()) {
    throw ArgumentError("MaskExtractor: level_channels must name at least one level");
  }
  if (mask_shape <= 0) {
    throw ArgumentError("MaskExtractor: mask_shape must be positive, got " +
                        std::to_string(mask_shape));
  }
  for (size_t i = 0; i < level_channels_.size(); ++i) {
    // Osprey names the levels after the ConvNeXt stages they come from: res2 .. res5.
    const std::string name = "res" + std::to_string(i + 2);
    levels_.push_back(
        register_module(name, layers::Linear(level_channels_[i], embed_dim, options)));
  }
  feat_linear_ = register_module("feat_linear", layers::Linear(embed_dim, out_dim, options));
  mask_linear_ = register_module(
      "mask_linear", Mlp(mask_shape * mask_shape, embed_dim, out_dim, 3, options));
}

MaskExtractorImpl::Output MaskExtractorImpl::forward(const std::vector<torch::Tensor>& features,
                                                     const torch::Tensor& masks) {
  if (features.size() != levels_.size()) {
    throw ShapeError("MaskExtractor: expected " + std::to_string(levels_.size()) +
                     " feature maps (res2..), got " + std::to_string(features.size()));
  }
  for (size_t i = 0; i < features.size(); ++i) {
    const torch::Tensor& f = features[i];
    if (!f.defined() || f.dim() != 4 || f.size(0) != 1 || f.size(1) != level_channels_[i]) {
      throw ShapeError("MaskExtractor: feature map res" + std::to_string(i + 2) +
                       " must be [1, " + std::to_string(level_channels_[i]) +
                       ", h, w], got " + (f.defined() ? shape_text(f.sizes()) : "undefined"));
    }
    if (f.device() != features[0].device()) {
      throw ShapeError("MaskExtractor: feature maps are on different devices (res2 on " +
                       features[0].device().str() + ", res" + std::to_string(i + 2) + " on " +
                       f.device().str() + ")");
    }
  }
  if (!masks.defined() || masks.dim() != 3) {
    throw ShapeError("MaskExtractor: masks must be [Q, H, W], got " +
                     (masks.defined() ? shape_text(masks.sizes()) : "undefined"));
  }
  if (masks.device() != features[0].device()) {
    throw ShapeError("MaskExtractor: masks are on " + masks.device().str() +
                     " but the feature maps on " + features[0].device().str());
  }

  const torch::ScalarType compute = feat_linear_->weight.scalar_type();  // float32 in Osprey
  const int64_t q = masks.size(0);
  if (q == 0) {
    auto empty = torch::empty({0, out_dim_}, features[0].options().dtype(compute));
    return {empty, empty.clone()};
  }
  const auto masks_f = masks.to(compute).unsqueeze(0);  // [1, Q, H, W]

  std::vector<torch::Tensor> level_tokens;  // each [Q, E]
  level_tokens.reserve(features.size());
  for (size_t i = 0; i < features.size(); ++i) {
    const auto feat = features[i].to(compute);  // [1, C, h, w]
    const int64_t c = feat.size(1), h = feat.size(2), w = feat.size(3);
    // Resized straight from the original resolution at every level, as Osprey does.
    auto m = (masks_f.size(2) == h && masks_f.size(3) == w) ? masks_f
                                                            : resize_bilinear(masks_f, h, w);
    m = (m > 0).to(compute);                                       // [1, Q, h, w]
    const auto area = m.sum({-1, -2}, /*keepdim=*/true) + 1e-8;    // [1, Q, 1, 1]
    const auto weights = (m / area).reshape({q, h * w});           // [Q, hw]
    const auto pooled = weights.matmul(feat.reshape({c, h * w}).t());  // [Q, C]
    // Osprey casts each level's projection back to the vision dtype before summing.
    const auto projected = levels_[i]->forward(pooled);            // [Q, E]
    level_tokens.push_back(projected.to(features[i].scalar_type()).to(compute));
  }
  const auto summed = torch::stack(level_tokens).sum(0);  // [Q, E]
  auto mask_tokens = feat_linear_->forward(summed);        // [Q, out]

  const auto soft = resize_bilinear(masks_f, mask_shape_, mask_shape_);  // [1, Q, S, S]
  auto pos_tokens = mask_linear_->forward(soft.reshape({q, mask_shape_ * mask_shape_}));  // [Q, out]
  return {std::move(mask_tokens), std::move(pos_tokens)};
}

}  // namespace regionlm::region
