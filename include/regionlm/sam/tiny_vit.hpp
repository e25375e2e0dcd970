#pragma once
// MobileSAM's TinyViT image encoder (mobile_sam.modeling.tiny_vit_sam): a convolutional stem
// (stride 4), one stage of MBConv blocks, then stages of windowed attention blocks with
// learned per-offset attention biases and a depthwise "local" convolution, patch merging
// between stages (stride 2, 1 into the last stage), and SAM's neck. Output side is
// image_size / 16. Keys mirror the checkpoint under `image_encoder.`; the classifier
// (`norm_head`, `head`) in MobileSAM's file is not built.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "regionlm/sam/config.hpp"
#include "regionlm/sam/layers.hpp"

namespace regionlm::sam {

/// Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, each Conv2d_BN, GELU after
/// the first two and after the residual sum. Keys: conv1, conv2, conv3.
class MBConvImpl : public torch::nn::Module {
 public:
  MBConvImpl(int64_t dim, int64_t hidden, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same

  Conv2dBN conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(MBConv);

/// 1x1 conv, 3x3 depthwise conv (stride 2, or 1), 1x1 conv with GELU between; flattens to
/// tokens. Keys: conv1, conv2, conv3.
class PatchMergingImpl : public torch::nn::Module {
 public:
  PatchMergingImpl(int64_t dim, int64_t out_dim, int64_t stride, const torch::TensorOptions& options);
  /// x: [B, C, H, W] -> [B, H' * W', out] with H' = ceil(H / stride).
  torch::Tensor forward(const torch::Tensor& x);

  Conv2dBN conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(PatchMerging);

/// Attention with per-head biases indexed by |dy|, |dx| within a window.
/// Keys: norm, qkv, proj, attention_biases.
class TinyAttentionImpl : public torch::nn::Module {
 public:
  TinyAttentionImpl(int64_t dim, int64_t num_heads, int64_t window, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, w * w, C] -> same

  LayerNorm norm{nullptr};
  Linear qkv{nullptr};
  Linear proj{nullptr};
  torch::Tensor attention_biases;  // [heads, window * window]

 private:
  int64_t num_heads_;
  torch::Tensor bias_index_;  // [w * w, w * w] offsets into attention_biases (not a checkpoint key)
};
TORCH_MODULE(TinyAttention);

/// Windowed attention (zero-padded to whole windows) + residual, depthwise local conv,
/// MLP (own LayerNorm) + residual. Keys: attn, local_conv, mlp.{norm,fc1,fc2}.
class TinyVitBlockImpl : public torch::nn::Module {
 public:
  TinyVitBlockImpl(int64_t dim, int64_t num_heads, int64_t window, int64_t mlp_hidden,
                   int64_t local_conv_size, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, int64_t H, int64_t W);  // [B, H * W, C] -> same

  TinyAttention attn{nullptr};
  Conv2dBN local_conv{nullptr};
  std::shared_ptr<torch::nn::Module> mlp;
  LayerNorm mlp_norm{nullptr};
  Linear fc1{nullptr}, fc2{nullptr};

 private:
  int64_t window_;
};
TORCH_MODULE(TinyVitBlock);

/// The encoder. Keys: patch_embed.seq.{0,2}, layers.{s}.blocks.{i}, layers.{s}.downsample,
/// neck.{0,1,2,3}.
class TinyVitImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError for inconsistent stage lists or an image size not divisible by 16.
  TinyVitImpl(const SamConfig& cfg, const torch::TensorOptions& options);
  /// pixels: [B, 3, S, S] -> [B, prompt_embed_dim, S / 16, S / 16].
  torch::Tensor forward(const torch::Tensor& pixels);

  Conv2dBN stem1{nullptr}, stem2{nullptr};  // patch_embed.seq.0 / .2
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Sequential neck{nullptr};

 private:
  struct Stage {
    std::vector<std::shared_ptr<torch::nn::Module>> blocks;
    PatchMerging downsample{nullptr};  // null for the last stage
    int64_t downsample_stride = 2;
  };
  std::vector<Stage> stages_;
  int64_t image_size_;
};
TORCH_MODULE(TinyVit);

}  // namespace regionlm::sam
