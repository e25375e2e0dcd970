#include "regionlm/vision/layers.hpp"

#include <torch/torch.h>

namespace regionlm::vision {

Conv2dImpl::Conv2dImpl(const Conv2dSpec& spec, const torch::TensorOptions& options) : spec_(spec) {
  weight =
      register_parameter("weight", torch::empty({spec.out_channels, spec.in_channels / spec.groups,
                                                 spec.kernel_size, spec.kernel_size},
                                                options));
  bias = register_parameter("bias", torch::empty({spec.out_channels}, options));
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, spec_.stride, spec_.padding, /*dilation=*/1, spec_.groups);
}

LayerNormImpl::LayerNormImpl(int64_t channels, double eps, const torch::TensorOptions& options)
    : channels_(channels), eps_(eps) {
  weight = register_parameter("weight", torch::empty({channels}, options));
  bias = register_parameter("bias", torch::empty({channels}, options));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {channels_}, weight, bias, eps_);
}

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps, const torch::TensorOptions& options)
    : channels_(channels), eps_(eps) {
  weight = register_parameter("weight", torch::empty({channels}, options));
  bias = register_parameter("bias", torch::empty({channels}, options));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  auto y = x.permute({0, 2, 3, 1});                           // [B, H, W, C]
  y = torch::layer_norm(y, {channels_}, weight, bias, eps_);  // [B, H, W, C]
  return y.permute({0, 3, 1, 2});                             // [B, C, H, W]
}

MlpImpl::MlpImpl(int64_t in_features, int64_t hidden_features,
                 const torch::TensorOptions& options) {
  fc1 = register_module("fc1", Linear(in_features, hidden_features, options));
  fc2 = register_module("fc2", Linear(hidden_features, in_features, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto h = torch::gelu(fc1(x));  // [..., hidden]
  return fc2(h);                 // [..., in]
}

}  // namespace regionlm::vision
