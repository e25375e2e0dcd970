#pragma once
// Small layers shared by SAM's encoders, prompt encoder and mask decoder. Like the rest of
// regionlm they allocate parameters uninitialised (torch::empty) in the requested dtype and
// device, ready for regionlm::load_module; parameter names are PyTorch's.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "regionlm/layers/linear.hpp"

namespace regionlm::sam {

using layers::Linear;

/// Shape and stepping of a square 2-D (transposed) convolution.
struct ConvSpec {
  int64_t in_channels = 0;   // input channels
  int64_t out_channels = 0;  // output channels
  int64_t kernel_size = 1;   // square kernel side, px
  int64_t stride = 1;        // step, px; default 1
  int64_t padding = 0;       // zero padding on every side, px; default 0
  int64_t groups = 1;        // 1 = dense, in_channels = depthwise; default 1
  bool bias = true;          // whether a `bias` [out] is registered; default true
};

/// nn.Conv2d: weight [out, in / groups, k, k], optional bias [out].
class Conv2dImpl : public torch::nn::Module {
 public:
  Conv2dImpl(const ConvSpec& spec, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> [B, out, H', W']

  torch::Tensor weight;
  torch::Tensor bias;  // undefined without bias

 private:
  ConvSpec spec_;
};
TORCH_MODULE(Conv2d);

/// nn.ConvTranspose2d (groups 1, no padding): weight [in, out, k, k], bias [out].
class ConvTranspose2dImpl : public torch::nn::Module {
 public:
  ConvTranspose2dImpl(const ConvSpec& spec, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> [B, out, H * s, W * s]

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  ConvSpec spec_;
};
TORCH_MODULE(ConvTranspose2d);

/// nn.LayerNorm over the last dimension, affine.
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

/// segment-anything's LayerNorm2d: normalises the channels of an NCHW tensor with its own
/// arithmetic (mean, biased variance, divide by sqrt(var + eps)); eps 1e-6.
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  LayerNorm2dImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same

  torch::Tensor weight;  // [C]
  torch::Tensor bias;    // [C]

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

/// nn.Embedding used as a learned vector table: weight [count, dim].
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor weight;  // [count, dim]
};
TORCH_MODULE(Embedding);

/// MobileSAM's Conv2d_BN in inference form: conv without bias (`c`) then BatchNorm2d with
/// running statistics (`bn`: weight, bias, running_mean, running_var; eps 1e-5).
class Conv2dBNImpl : public torch::nn::Module {
 public:
  Conv2dBNImpl(const ConvSpec& spec, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] -> [B, out, H', W']

  Conv2d c{nullptr};
  std::shared_ptr<torch::nn::Module> bn;
  torch::Tensor bn_weight, bn_bias, running_mean, running_var;  // [out] each
};
TORCH_MODULE(Conv2dBN);

/// segment-anything's MLPBlock: lin1 -> activation -> lin2 (GELU in the image encoder, ReLU
/// in the two-way transformer).
class MlpBlockImpl : public torch::nn::Module {
 public:
  enum class Activation { Gelu, Relu };
  MlpBlockImpl(int64_t dim, int64_t hidden, Activation activation,
               const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [..., dim] -> same

  Linear lin1{nullptr};
  Linear lin2{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(MlpBlock);

/// segment-anything's MLP: `layers.{i}` Linear layers with ReLU between them.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t num_layers,
          const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]

  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace regionlm::sam
