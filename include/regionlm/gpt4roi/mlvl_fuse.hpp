#pragma once
// GPT4RoI's `MLVLFuseModule` (checkpoint prefix `model.spi_module.mlvl_fuse.`): every
// pyramid level gets two coordinate channels and a 1x1 `input_conv`, then `num_fuse` rounds
// each exchange channels between neighbouring levels and apply one 3x3 ConvModule shared by
// all levels (`fuse_convs.i`).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/gpt4roi/conv_module.hpp"
#include "regionlm/vision/layers.hpp"

namespace regionlm::gpt4roi {

class MlvlFuseImpl : public torch::nn::Module {
 public:
  /// `channels`: width of every level (the CLIP width). Throws ConfigError when the channel
  /// split (a quarter of the channels shuffled each way) or the GroupNorm groups do not fit.
  MlvlFuseImpl(int64_t channels, const SpiConfig& config, const torch::TensorOptions& options);

  /// levels: num_levels maps [B, C, H_l, W_l] (finest first) -> the fused maps, same shapes.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& levels);

  torch::nn::ModuleList input_conv{nullptr};  // Conv2d(C + 2 -> C, 1x1) per level
  torch::nn::ModuleList fuse_convs{nullptr};  // ConvModule per round

 private:
  int64_t channels_;
  int64_t shuffle_;  // channels taken from each neighbour: C / 4
  int64_t remain_;   // channels a level keeps: C - 2 * shuffle
  std::vector<vision::Conv2d> inputs_;
  std::vector<ConvModule> rounds_;
};
TORCH_MODULE(MlvlFuse);

}  // namespace regionlm::gpt4roi
