#pragma once
// Inference layers of the vision path. Unlike torch::nn's layers they allocate their
// parameters uninitialised (torch::empty) in the requested dtype/device, ready to be filled
// by regionlm::load_module; parameter names are PyTorch's (`weight`, `bias`).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "regionlm/layers/linear.hpp"

namespace regionlm::vision {

using layers::Linear;  // with bias: weight [out, in], bias [out]

/// Shape and stepping of a square 2-D convolution.
struct Conv2dSpec {
  int64_t in_channels = 0;   // input channels
  int64_t out_channels = 0;  // output channels
  int64_t kernel_size = 1;   // square kernel side, px
  int64_t stride = 1;        // step, px; default 1
  int64_t padding = 0;       // zero padding on every side, px; default 0
  int64_t groups = 1;        // 1 = dense, in_channels = depthwise; default 1
};

/// Conv2d with bias: weight [out, in / groups, k, k], bias [out].
class Conv2dImpl : public torch::nn::Module {
 public:
  Conv2dImpl(const Conv2dSpec& spec, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> [B, out, H', W']

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  Conv2dSpec spec_;
};
TORCH_MODULE(Conv2d);

/// LayerNorm over the last dimension (channels-last tensors), affine.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [..., C] -> same

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

/// LayerNorm over the channels of an NCHW tensor, computed as timm's LayerNorm2d does:
/// permute to NHWC, normalise the last dimension, permute back (the result keeps NHWC
/// strides, which the following convolution uses as channels-last input).
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  LayerNorm2dImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

/// timm's Mlp: fc1 -> exact (erf) GELU -> fc2.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in_features, int64_t hidden_features, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., in]

  Linear fc1{nullptr};
  Linear fc2{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace regionlm::vision
