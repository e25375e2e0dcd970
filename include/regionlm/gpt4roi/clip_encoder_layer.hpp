#pragma once
// One CLIP ViT encoder layer (HF `CLIPEncoderLayer`): pre-norm self-attention and MLP, each
// with a residual. Submodule names are the checkpoint's: self_attn.{q,k,v,out}_proj,
// layer_norm1, mlp.fc1, mlp.fc2, layer_norm2.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/vision/layers.hpp"

namespace regionlm::gpt4roi {

/// Multi-head self-attention without mask (HF `CLIPAttention`).
class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(const ClipVisionConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D]

  layers::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(ClipAttention);

/// fc1 -> quick_gelu (x * sigmoid(1.702 x)) or exact GELU -> fc2 (HF `CLIPMLP`).
class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(const ClipVisionConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D]

  layers::Linear fc1{nullptr}, fc2{nullptr};

 private:
  bool quick_gelu_;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(const ClipVisionConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D]

  ClipAttention self_attn{nullptr};
  vision::LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  vision::LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

}  // namespace regionlm::gpt4roi
