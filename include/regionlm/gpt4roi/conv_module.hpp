#pragma once
// mmcv's `ConvModule` as GPT4RoI configures it: a 3x3 convolution without bias (a norm
// follows), GroupNorm and ReLU. Checkpoint names: `conv.weight`, `gn.weight`, `gn.bias`.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace regionlm::gpt4roi {

class ConvModuleImpl : public torch::nn::Module {
 public:
  /// channels -> channels, kernel 3, stride 1, padding 1; GroupNorm(groups, channels, eps
  /// 1e-5, affine). Throws ConfigError when groups does not divide channels.
  ConvModuleImpl(int64_t channels, int64_t groups, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> [B, C, H, W]

  torch::Tensor conv_weight;  // conv.weight [C, C, 3, 3]
  torch::Tensor gn_weight;    // gn.weight [C]
  torch::Tensor gn_bias;      // gn.bias [C]

 private:
  int64_t groups_;
};
TORCH_MODULE(ConvModule);

}  // namespace regionlm::gpt4roi
