#pragma once
// GPT4RoI configuration: the CLIP vision tower (Hugging Face `CLIPVisionConfig` names and
// defaults), the region branch (`spi_module`, whose widths the original hard-codes for the 7B
// model) and the model's own `config.json` (LLaMA fields plus LLaVA v0's `mm_*` keys).
// Facts: ../shared/spec/gpt4roi.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/config.hpp"

namespace regionlm::gpt4roi {

/// CLIP ViT vision tower (transformers CLIPVisionConfig names; defaults are its defaults,
/// openai/clip-vit-large-patch14 spells out 1024 / 4096 / 24 / 16 / 14).
struct ClipVisionConfig {
  int64_t hidden_size = 768;          // token width
  int64_t intermediate_size = 3072;   // MLP width
  int64_t num_hidden_layers = 12;     // encoder layers
  int64_t num_attention_heads = 12;   // attention heads
  int64_t num_channels = 3;           // input channels
  int64_t image_size = 224;           // square input side, px
  int64_t patch_size = 32;            // square patch side, px
  double layer_norm_eps = 1e-5;       // LayerNorm epsilon
  std::string hidden_act = "quick_gelu";  // "quick_gelu" or "gelu" (exact)

  int64_t grid() const { return image_size / patch_size; }         // patches per side
  int64_t num_patches() const { return grid() * grid(); }           // tokens without CLS
};

/// The region branch (`MLVLROIQueryModule`). Defaults are GPT4RoI-7B's hard-coded values; a
/// small test model overrides them through the optional `spi_module_config` object.
struct SpiConfig {
  int64_t num_levels = 4;           // CLIP hidden states fused (finest first)
  int64_t num_fuse = 5;             // fuse rounds (one shared conv each)
  int64_t gn_groups = 64;           // GroupNorm groups of the fuse convs
  int64_t roi_output_size = 14;     // RoIAlign output side
  int64_t sampling_ratio = 2;       // RoIAlign samples per bin side (> 0)
  int64_t query_dims = 1024;        // flatten_linear / pos_embedd output width
  int64_t pos_hidden_dims = 256;    // first pos_embedd Linear width
};

/// What the GPT4RoI checkpoint's config.json says, plus the vision tower's.
struct Gpt4roiConfig {
  LlamaConfig text;                     // the decoder (vocab 32006 for GPT4RoI-7B)
  ClipVisionConfig vision;              // from the vision tower directory
  SpiConfig spi;                        // region branch widths
  std::string mm_vision_tower = "openai/clip-vit-large-patch14";  // CLIP directory
  int64_t mm_vision_select_layer = -2;  // hidden state for the image tokens (Python index)
  int64_t mm_hidden_size = 1024;        // projector input width (= vision.hidden_size)
  bool mm_use_im_start_end = true;      // image block wrapped in <im_start> .. <im_end>
  std::vector<std::string> architectures;  // "SPILlavaMPTForCausalLM"
};

/// Parses a CLIP config: a CLIPVisionModel config (fields at the top level) or a CLIPModel
/// config (fields under "vision_config"). `source` names the file in messages. Throws
/// ConfigError for wrong types, non-positive sizes, a patch size that does not divide the
/// image size, heads that do not divide the width or an unsupported activation.
ClipVisionConfig parse_clip_vision_config(const std::string& json_text, const std::string& source);
/// Reads `config.json` (a file, or a directory holding one). IoError when unreadable.
ClipVisionConfig load_clip_vision_config(const std::filesystem::path& file_or_dir);

/// Parses GPT4RoI's config.json (vision left at its defaults: it lives in another directory).
/// ConfigError as above, also for an mm_vision_select_layer outside the tower's range
/// (checked when the vision config is known, see hidden_state_indices).
Gpt4roiConfig parse_gpt4roi_config(const std::string& json_text, const std::string& source);
Gpt4roiConfig load_gpt4roi_config(const std::filesystem::path& file_or_dir);

/// Which CLIP hidden states (index 0 = embeddings after pre_layrnorm, k = output of encoder
/// layer k, num_layers + 1 in all) GPT4RoI reads.
struct HiddenStateIndices {
  int64_t image = 0;                // hidden_states[select_layer], CLS dropped -> image tokens
  std::vector<int64_t> regions;     // ascending; finest pyramid level first
};

/// The original's rule: image = hidden_states[select_layer]; regions =
/// hidden_states[select_layer::-3] reversed, last `num_levels` (CLIP-L: 23 and 14, 17, 20,
/// 23). ConfigError when select_layer is out of range or fewer than `num_levels` states
/// remain (a tower needs at least 3 * (num_levels - 1) + 1 + (-select_layer - 1) layers).
HiddenStateIndices hidden_state_indices(int64_t num_layers, int64_t select_layer,
                                        int64_t num_levels);

}  // namespace regionlm::gpt4roi
