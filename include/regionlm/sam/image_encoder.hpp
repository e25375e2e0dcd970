#pragma once
// segment-anything's ImageEncoderViT (ViTDet-style): 16x16 patch embedding plus an absolute
// position embedding, transformer blocks with windowed or global self-attention and
// decomposed relative positions, then a convolutional neck to the prompt width. Module names
// mirror the checkpoint keys under `image_encoder.`.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "regionlm/sam/config.hpp"
#include "regionlm/sam/layers.hpp"

namespace regionlm::sam {

/// Multi-head self-attention over a 2-D token grid with decomposed relative position biases
/// (MViTv2). Keys: qkv, proj, rel_pos_h, rel_pos_w.
class VitAttentionImpl : public torch::nn::Module {
 public:
  /// `grid`: tokens per side the relative tables cover (the window, or the whole grid).
  VitAttentionImpl(int64_t dim, int64_t num_heads, int64_t grid, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, H, W, C] -> same; H, W = grid

  Linear qkv{nullptr};
  Linear proj{nullptr};
  torch::Tensor rel_pos_h;  // [2 * grid - 1, head_dim]
  torch::Tensor rel_pos_w;  // [2 * grid - 1, head_dim]

 private:
  int64_t num_heads_;
  int64_t grid_;
};
TORCH_MODULE(VitAttention);

/// Pre-norm transformer block; window_size 0 = global attention, otherwise the grid is
/// zero-padded to a multiple of the window and attended window by window.
/// Keys: norm1, attn, norm2, mlp.lin1, mlp.lin2.
class VitBlockImpl : public torch::nn::Module {
 public:
  VitBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_dim, int64_t window_size, int64_t grid,
               const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [B, H, W, C] -> same

  LayerNorm norm1{nullptr};
  VitAttention attn{nullptr};
  LayerNorm norm2{nullptr};
  MlpBlock mlp{nullptr};

 private:
  int64_t window_size_;
};
TORCH_MODULE(VitBlock);

/// The encoder. Keys: patch_embed.proj, pos_embed, blocks.{i}, neck.{0,1,2,3}.
class ImageEncoderVitImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError for inconsistent sizes (heads not dividing the width, ...).
  ImageEncoderVitImpl(const SamConfig& cfg, const torch::TensorOptions& options);
  /// pixels: [B, 3, S, S] normalised and padded (S = image_size), module dtype and device.
  /// Returns [B, prompt_embed_dim, S / patch, S / patch].
  torch::Tensor forward(const torch::Tensor& pixels);

  Conv2d patch_proj{nullptr};  // registered as patch_embed.proj
  torch::Tensor pos_embed;     // [1, G, G, E]
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Sequential neck{nullptr};
};
TORCH_MODULE(ImageEncoderVit);

}  // namespace regionlm::sam
