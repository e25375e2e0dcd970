#include "regionlm/gpt4roi/conv_module.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::gpt4roi {

ConvModuleImpl::ConvModuleImpl(int64_t channels, int64_t groups, const torch::TensorOptions& options)
    : groups_(groups) {
  if (channels <= 0 || groups <= 0 || channels % groups != 0) {
    throw ConfigError("ConvModule: GroupNorm groups " + std::to_string(groups) +
                      " must divide the channels " + std::to_string(channels));
  }
  auto conv = std::make_shared<torch::nn::Module>("conv");
  conv_weight = conv->register_parameter("weight", torch::empty({channels, channels, 3, 3}, options));
  register_module("conv", conv);
  auto gn = std::make_shared<torch::nn::Module>("gn");
  gn_weight = gn->register_parameter("weight", torch::empty({channels}, options));
  gn_bias = gn->register_parameter("bias", torch::empty({channels}, options));
  register_module("gn", gn);
}

torch::Tensor ConvModuleImpl::forward(const torch::Tensor& x) {
  auto y = torch::conv2d(x, conv_weight, /*bias=*/{}, /*stride=*/1, /*padding=*/1);  // [B, C, H, W]
  y = torch::group_norm(y, groups_, gn_weight, gn_bias, 1e-5);                      // [B, C, H, W]
  return torch::relu(y);                                                            // [B, C, H, W]
}

}  // namespace regionlm::gpt4roi
