#pragma once
// SAM's mask decoder: a two-way transformer between the prompt tokens (with an IoU token and
// mask tokens prepended) and the image embedding, then a transposed-convolution upscaler and
// per-mask hypernetwork MLPs that produce low-resolution mask logits, and an IoU head.
// Keys under `mask_decoder.`.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <utility>

#include "regionlm/sam/config.hpp"
#include "regionlm/sam/layers.hpp"

namespace regionlm::sam {

/// Attention whose q/k/v projections may narrow the width (downsample rate).
/// Keys: q_proj, k_proj, v_proj, out_proj.
class DecoderAttentionImpl : public torch::nn::Module {
 public:
  DecoderAttentionImpl(int64_t dim, int64_t num_heads, int64_t downsample_rate,
                       const torch::TensorOptions& options);
  /// q: [B, Nq, C], k and v: [B, Nk, C] -> [B, Nq, C].
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t num_heads_;
};
TORCH_MODULE(DecoderAttention);

/// Token self-attention, token-to-image cross-attention, MLP, image-to-token cross-attention,
/// each followed by a LayerNorm (norm1..norm4).
class TwoWayAttentionBlockImpl : public torch::nn::Module {
 public:
  TwoWayAttentionBlockImpl(const SamConfig& cfg, bool skip_first_layer_pe, const torch::TensorOptions& options);
  /// queries [B, T, C], keys [B, N, C] with their positional encodings -> updated pair.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                                  const torch::Tensor& query_pe, const torch::Tensor& key_pe);

  DecoderAttention self_attn{nullptr};
  LayerNorm norm1{nullptr};
  DecoderAttention cross_attn_token_to_image{nullptr};
  LayerNorm norm2{nullptr};
  MlpBlock mlp{nullptr};
  LayerNorm norm3{nullptr};
  LayerNorm norm4{nullptr};
  DecoderAttention cross_attn_image_to_token{nullptr};

 private:
  bool skip_first_layer_pe_;
};
TORCH_MODULE(TwoWayAttentionBlock);

/// Keys: layers.{i}, final_attn_token_to_image, norm_final_attn.
class TwoWayTransformerImpl : public torch::nn::Module {
 public:
  TwoWayTransformerImpl(const SamConfig& cfg, const torch::TensorOptions& options);
  /// image [B, C, h, w], image_pe [1 or B, C, h, w], tokens [B, T, C] ->
  /// (tokens [B, T, C], image tokens [B, h * w, C]).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& image, const torch::Tensor& image_pe,
                                                  const torch::Tensor& tokens);

  torch::nn::ModuleList layers{nullptr};
  DecoderAttention final_attn_token_to_image{nullptr};
  LayerNorm norm_final_attn{nullptr};
};
TORCH_MODULE(TwoWayTransformer);

class MaskDecoderImpl : public torch::nn::Module {
 public:
  MaskDecoderImpl(const SamConfig& cfg, const torch::TensorOptions& options);
  /// image_embedding [1, C, e, e], image_pe [1, C, e, e], sparse [B, T, C], dense [B, C, e, e].
  /// Returns (logits [B, M, 4e, 4e], iou [B, M]) for all M = num_multimask_outputs + 1 mask
  /// tokens (index 0 = the single-mask token).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& image_embedding,
                                                  const torch::Tensor& image_pe, const torch::Tensor& sparse,
                                                  const torch::Tensor& dense);
  /// forward's first half, the same arguments: (output tokens after the transformer
  /// [B, 1 + M + T, C], upscaled image features [B, C / 8, 4e, 4e]); every mask is a linear
  /// function of those features. Trainers read it too.
  std::pair<torch::Tensor, torch::Tensor> features(const torch::Tensor& image_embedding,
                                                   const torch::Tensor& image_pe, const torch::Tensor& sparse,
                                                   const torch::Tensor& dense);

  TwoWayTransformer transformer{nullptr};
  Embedding iou_token{nullptr};
  Embedding mask_tokens{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  Mlp iou_prediction_head{nullptr};

 private:
  int64_t num_mask_tokens_;
};
TORCH_MODULE(MaskDecoder);

}  // namespace regionlm::sam
