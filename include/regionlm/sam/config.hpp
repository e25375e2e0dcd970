#pragma once
// The shape of a SAM model. Everything the weights determine is read from their keys and
// shapes (`detect_config`); a `sam_config.json` beside the weights may state the same values
// with segment-anything's build parameter names and set the few the weights cannot tell
// (TinyViT's image size, its first stage's unused heads/window) and the model's default
// refinement passes (Sam::best_masks). A value that contradicts the weights is a ConfigError
// naming the key.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/io/weights.hpp"

namespace regionlm::sam {

/// The image encoder family.
enum class EncoderKind {
  Vit,      // segment-anything's ImageEncoderViT (SAM ViT-B/L/H); config name "vit"
  TinyVit,  // MobileSAM's TinyViT; config name "tiny_vit"
};

struct SamConfig {
  EncoderKind encoder = EncoderKind::Vit;  // "encoder"; detected from the keys
  int64_t image_size = 1024;               // "image_size": encoder input side, px; default 1024
  int64_t prompt_embed_dim = 256;          // "prompt_embed_dim": decoder width; default 256

  // ViT encoder (EncoderKind::Vit).
  int64_t encoder_embed_dim = 768;   // "encoder_embed_dim": token width (768 for ViT-B)
  int64_t encoder_depth = 12;        // "encoder_depth": number of blocks
  int64_t encoder_num_heads = 12;    // "encoder_num_heads": attention heads per block
  std::vector<int64_t> encoder_global_attn_indexes = {2, 5, 8, 11};  // blocks with global attention
  int64_t window_size = 14;          // "window_size": side of the local attention windows, tokens
  int64_t vit_patch_size = 16;       // "vit_patch_size": patch side, px
  int64_t vit_mlp_dim = 3072;        // MLP hidden width (mlp_ratio 4), from the weights

  // TinyViT encoder (EncoderKind::TinyVit); one entry per stage.
  std::vector<int64_t> embed_dims = {64, 128, 160, 320};  // "embed_dims": stage widths
  std::vector<int64_t> depths = {2, 2, 6, 2};              // "depths": blocks per stage
  std::vector<int64_t> num_heads = {2, 4, 5, 10};          // "num_heads" (stage 0 is convolutional)
  std::vector<int64_t> window_sizes = {7, 7, 14, 7};       // "window_sizes", tokens
  int64_t mbconv_hidden_ratio = 4;   // MBConv expansion (hidden = ratio * dim), from the weights
  int64_t tiny_mlp_ratio = 4;        // TinyViT block MLP expansion, from the weights
  int64_t local_conv_size = 3;       // depthwise conv between attention and MLP, from the weights

  // Prompt encoder and mask decoder (fixed by the official builders; read from the weights).
  int64_t mask_in_chans = 16;            // hidden channels of the mask-input downscaler
  int64_t decoder_depth = 2;             // two-way transformer layers
  int64_t decoder_mlp_dim = 2048;        // two-way transformer MLP width
  int64_t decoder_num_heads = 8;         // two-way transformer heads (not in the weights)
  int64_t attention_downsample_rate = 2; // cross-attention width divisor
  int64_t num_multimask_outputs = 3;     // masks in multimask mode (+1 single-mask token)
  int64_t iou_head_depth = 3;            // IoU head layers
  int64_t iou_head_hidden_dim = 256;     // IoU head width

  // Inference (not in the weights; sam_config.json only).
  int64_t refinement_passes = 0;  // "refinement_passes": Sam::best_masks' default, 0 .. 8; default 0

  /// Side of the image embedding, tokens (image_size / 16 for both encoders).
  int64_t embedding_size() const;
  /// Side of the low-resolution masks and of mask inputs (4 * embedding_size()).
  int64_t low_res_size() const;
  /// "vit" or "tiny_vit".
  std::string encoder_name() const;
  /// e.g. "ViT (embed 768, depth 12, heads 12)" or "TinyViT (dims [64, 128, 160, 320])".
  std::string describe() const;
};

/// Most refinement passes a config or a call may ask for (each costs one decoder pass).
inline constexpr int64_t kMaxRefinementPasses = 8;

/// Reads the configuration from the keys and shapes of a SAM state dict (keys
/// `image_encoder.*`, `prompt_encoder.*`, `mask_decoder.*`). Throws WeightError naming the
/// key when one the detection needs is missing or has an impossible shape.
SamConfig detect_config(const Weights& weights);

/// Applies a `sam_config.json` to a detected configuration. Accepted keys: `encoder`,
/// `encoder_embed_dim`, `encoder_depth`, `encoder_num_heads`, `encoder_global_attn_indexes`,
/// `window_size`, `image_size`, `vit_patch_size`, `prompt_embed_dim`, `embed_dims`,
/// `depths`, `num_heads`, `window_sizes`, `refinement_passes`. Throws ConfigError naming the
/// key for an unknown key, a wrong type, a value out of range or one that contradicts the
/// weights; FormatError for invalid JSON.
SamConfig apply_config_file(const SamConfig& detected, const std::filesystem::path& file);

}  // namespace regionlm::sam
