#pragma once
// The sizes of the small Osprey trained for tiny-shapes, and its initial weights. The model
// itself is the library's Osprey composition (regionlm/osprey.hpp), the same that Model::load
// builds, so training runs the inference modules and steps and saves Osprey's key layout.
#include <torch/nn/module.h>

#include <cstdint>
#include <vector>

#include "regionlm/config.hpp"

namespace regionlm::tiny_shapes {

/// Sizes of the small model (see docs/tiny-shapes.md for why these).
struct TinyModelSpec {
  int64_t image_size = 128;                 // model input side, px
  std::vector<int64_t> depths{1, 1, 2, 1};  // ConvNeXt blocks per stage
  std::vector<int64_t> dims{16, 32, 64, 128};  // ConvNeXt channels per stage
  int64_t token_level = 3;         // stage whose map becomes image tokens (3 = res5: 4x4 at 128 px)
  int64_t embed_dim = 128;         // extractor per-level width
  int64_t mask_shape = 32;         // side of the soft mask fed to the position MLP
  int64_t hidden_size = 128;       // decoder width
  int64_t intermediate_size = 352;  // decoder gated-MLP width
  int64_t num_layers = 4;          // decoder layers
  int64_t num_heads = 4;           // attention heads (head dim = hidden / heads)
  int64_t max_positions = 512;     // longest prompt + answer, positions
};

/// The Osprey configuration of a spec with a tokenizer of `vocab_size` pieces.
OspreyConfig make_config(const TinyModelSpec& spec, int64_t vocab_size);

/// Draws fresh weights for every parameter of `model` from torch's global generator (seed it
/// first), in named_parameters() order: normal(0, 0.02) for matrices, convolutions and
/// embeddings (LLaMA's and ConvNeXt's initializer range), zero biases, unit norms, and
/// ConvNeXt layer scales (`.gamma`) set to `layer_scale`.
void initialize(torch::nn::Module& model, double layer_scale);

}  // namespace regionlm::tiny_shapes
