#include "regionlm/sam/layers.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

namespace {

void check_spec(const ConvSpec& spec, const char* what) {
  if (spec.in_channels <= 0 || spec.out_channels <= 0 || spec.kernel_size <= 0 ||
      spec.stride <= 0 || spec.padding < 0 || spec.groups <= 0 ||
      spec.in_channels % spec.groups != 0 || spec.out_channels % spec.groups != 0) {
    throw ConfigError(std::string(what) + ": invalid shape (in " + std::to_string(spec.in_channels) +
                      ", out " + std::to_string(spec.out_channels) + ", kernel " +
                      std::to_string(spec.kernel_size) + ", groups " + std::to_string(spec.groups) +
                      ")");
  }
}

}  // namespace

Conv2dImpl::Conv2dImpl(const ConvSpec& spec, const torch::TensorOptions& options) : spec_(spec) {
  check_spec(spec, "Conv2d");
  weight = register_parameter("weight", torch::empty({spec.out_channels, spec.in_channels / spec.groups,
                                                      spec.kernel_size, spec.kernel_size},
                                                     options));
  if (spec.bias) bias = register_parameter("bias", torch::empty({spec.out_channels}, options));
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, spec_.stride, spec_.padding, /*dilation=*/1, spec_.groups);
}

ConvTranspose2dImpl::ConvTranspose2dImpl(const ConvSpec& spec, const torch::TensorOptions& options)
    : spec_(spec) {
  check_spec(spec, "ConvTranspose2d");
  weight = register_parameter(
      "weight", torch::empty({spec.in_channels, spec.out_channels, spec.kernel_size, spec.kernel_size},
                             options));
  bias = register_parameter("bias", torch::empty({spec.out_channels}, options));
}

torch::Tensor ConvTranspose2dImpl::forward(const torch::Tensor& x) {
  return torch::conv_transpose2d(x, weight, bias, spec_.stride, spec_.padding);
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
    : eps_(eps) {
  weight = register_parameter("weight", torch::empty({channels}, options));
  bias = register_parameter("bias", torch::empty({channels}, options));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  const auto mean = x.mean(1, /*keepdim=*/true);                        // [B, 1, H, W]
  const auto centred = x - mean;                                        // [B, C, H, W]
  const auto var = centred.pow(2).mean(1, /*keepdim=*/true);            // [B, 1, H, W]
  const auto normed = centred / torch::sqrt(var + eps_);                // [B, C, H, W]
  return weight.view({1, -1, 1, 1}) * normed + bias.view({1, -1, 1, 1});  // [B, C, H, W]
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({count, dim}, options));
}

Conv2dBNImpl::Conv2dBNImpl(const ConvSpec& spec, const torch::TensorOptions& options) {
  ConvSpec conv = spec;
  conv.bias = false;
  c = register_module("c", Conv2d(conv, options));
  bn = register_module("bn", std::make_shared<torch::nn::Module>("BatchNorm2d"));
  bn_weight = bn->register_parameter("weight", torch::empty({spec.out_channels}, options));
  bn_bias = bn->register_parameter("bias", torch::empty({spec.out_channels}, options));
  running_mean = bn->register_buffer("running_mean", torch::empty({spec.out_channels}, options));
  running_var = bn->register_buffer("running_var", torch::empty({spec.out_channels}, options));
}

torch::Tensor Conv2dBNImpl::forward(const torch::Tensor& x) {
  // Loading re-points the registered tensors (set_data), so the members stay current.
  return torch::batch_norm(c(x), bn_weight, bn_bias, running_mean, running_var,
                           /*training=*/false, /*momentum=*/0.1, /*eps=*/1e-5,
                           /*cudnn_enabled=*/true);  // [B, out, H', W']
}

MlpBlockImpl::MlpBlockImpl(int64_t dim, int64_t hidden, Activation activation,
                           const torch::TensorOptions& options)
    : activation_(activation) {
  lin1 = register_module("lin1", Linear(dim, hidden, options));
  lin2 = register_module("lin2", Linear(hidden, dim, options));
}

torch::Tensor MlpBlockImpl::forward(const torch::Tensor& x) {
  auto h = lin1(x);  // [..., hidden]
  h = activation_ == Activation::Gelu ? torch::gelu(h) : torch::relu(h);
  return lin2(h);  // [..., dim]
}

MlpImpl::MlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t num_layers,
                 const torch::TensorOptions& options) {
  if (num_layers < 1) throw ConfigError("Mlp: num_layers must be >= 1");
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    const int64_t in = i == 0 ? in_dim : hidden_dim;
    const int64_t out = i == num_layers - 1 ? out_dim : hidden_dim;
    layers->push_back(Linear(in, out, options));
  }
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    h = layers[i]->as<regionlm::layers::LinearImpl>()->forward(h);  // [..., width of layer i]
    if (i + 1 < n) h = torch::relu(h);
  }
  return h;
}

}  // namespace regionlm::sam
