#pragma once
// Osprey's mask-aware extractor: every region becomes one *mask token* (its mask-pooled
// multi-level vision features) and one *position token* (an MLP over its downsampled
// mask). Parameter names mirror the checkpoint under `mask_extractor.`:
// res2..res5 (per-level Linear C_L -> embed_dim), feat_linear (embed_dim -> out_dim),
// mask_linear.layers.{0,1,2} (mask_shape^2 -> embed_dim -> embed_dim -> out_dim).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "regionlm/layers/linear.hpp"
#include "regionlm/region/mlp.hpp"

namespace regionlm::region {

class MaskExtractorImpl : public torch::nn::Module {
 public:
  /// level_channels: channels of each feature level (Osprey: 192, 384, 768, 1536), named
  /// res2, res3, ...; embed_dim: per-level projection width (1024); out_dim: token width
  /// = decoder hidden size (4096); mask_shape: side of the soft mask fed to the position
  /// MLP (112). `options` sets the parameters' device and dtype, which is also the
  /// compute dtype (float32 in Osprey). Parameters are left uninitialised.
  MaskExtractorImpl(std::vector<int64_t> level_channels, int64_t embed_dim, int64_t out_dim,
                    int64_t mask_shape, const torch::TensorOptions& options);

  struct Output {
    torch::Tensor mask_tokens;  // [Q, out_dim], parameter dtype
    torch::Tensor pos_tokens;   // [Q, out_dim], parameter dtype
  };

  /// features: one map [1, C_L, h_L, w_L] per level in the vision dtype (bf16/f16/f32);
  /// masks: [Q, H, W] 0/1 (any numeric or bool dtype) at the image's original resolution,
  /// on the features' device. All Q regions are computed together.
  /// Per level: masks resized bilinearly (align_corners=false) from HxW to h_L x w_L and
  /// binarised (> 0); masked mean with a 1e-8 guard; Linear; rounded through the level's
  /// feature dtype. Mask token = feat_linear(sum of levels). Position token = MLP of the
  /// masks resized bilinearly to mask_shape^2 (soft). An empty mask yields bias-only tokens.
  /// Throws ShapeError for a wrong number of levels, channels, ranks, batch or device.
  Output forward(const std::vector<torch::Tensor>& features, const torch::Tensor& masks);

  const std::vector<int64_t>& level_channels() const { return level_channels_; }
  int64_t embed_dim() const { return embed_dim_; }
  int64_t out_dim() const { return out_dim_; }
  int64_t mask_shape() const { return mask_shape_; }

 private:
  std::vector<int64_t> level_channels_;
  int64_t embed_dim_;
  int64_t out_dim_;
  int64_t mask_shape_;
  std::vector<layers::Linear> levels_;  // res2, res3, ... (registered under those names)
  layers::Linear feat_linear_;
  Mlp mask_linear_;
};
TORCH_MODULE(MaskExtractor);

}  // namespace regionlm::region
