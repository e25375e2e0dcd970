#pragma once
// ConvNeXt trunk as open_clip's `convnext_large_d_320` wraps it (timm 0.6.13 ConvNeXt):
// patch stem, four stages of residual blocks, outputs of every stage (Osprey's res2..res5).
// Submodule names mirror the checkpoint keys under `visual.trunk.` (open_clip) or
// `model.vision_tower.vision_tower.visual.trunk.` (Osprey), so
// `load_module(*trunk, weights, prefix)` fills it. The unused classifier head is not built.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/vision/layers.hpp"

namespace regionlm::vision {

/// One residual block: depthwise 7x7 conv -> NHWC -> LayerNorm -> Linear(C, 4C) -> GELU ->
/// Linear(4C, C) -> NCHW -> * gamma -> + input. Keys: conv_dw, norm, mlp.fc1, mlp.fc2, gamma.
class ConvNeXtBlockImpl : public torch::nn::Module {
 public:
  ConvNeXtBlockImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same

  Conv2d conv_dw{nullptr};
  LayerNorm norm{nullptr};
  Mlp mlp{nullptr};
  torch::Tensor gamma;  // [C] layer scale
};
TORCH_MODULE(ConvNeXtBlock);

/// A stage: optional downsample (channel LayerNorm, 2x2 stride-2 conv; keys downsample.0/1)
/// then `depth` blocks (keys blocks.{i}).
class ConvNeXtStageImpl : public torch::nn::Module {
 public:
  /// `with_downsample`: whether the stage starts with the 2x2 stride-2 reduction (all but
  /// the first stage).
  ConvNeXtStageImpl(int64_t in_channels, int64_t out_channels, int64_t depth, bool with_downsample,
                    double eps, const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x);  // [B, in, H, W] -> [B, out, H', W']

  torch::nn::Sequential downsample{nullptr};  // null for the first stage
  torch::nn::Sequential blocks{nullptr};
};
TORCH_MODULE(ConvNeXtStage);

/// The trunk. Built from cfg.depths / cfg.dims / cfg.layer_norm_eps (any number of stages,
/// four for Osprey) with parameters of options' dtype and device, uninitialised until loaded.
class ConvNeXtImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError when depths/dims are empty, of different lengths or not positive.
  ConvNeXtImpl(const VisionConfig& cfg, const torch::TensorOptions& options);

  /// pixels: [B, 3, H, W] normalised, on the module's device (any floating dtype: it is
  /// converted to the module's). Returns one map per stage, res2..res5 for Osprey:
  /// stage i is [B, dims[i], H / 2^(i+2), W / 2^(i+2)] (floored), in the module's dtype.
  /// Throws ShapeError for another rank, channel count or device, or an image smaller than
  /// the total stride.
  std::vector<torch::Tensor> forward(const torch::Tensor& pixels);

  /// Stride of the last stage in pixels (32 for four stages): the smallest input side.
  int64_t total_stride() const;

  torch::nn::Sequential stem{nullptr};  // stem.0 conv 4x4/4, stem.1 channel LayerNorm
  torch::nn::ModuleList stages{nullptr};

 private:
  std::vector<int64_t> dims_;
};
TORCH_MODULE(ConvNeXt);

}  // namespace regionlm::vision
