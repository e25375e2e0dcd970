#pragma once
// The small Osprey trained for tiny-shapes: the library's own inference modules (ConvNeXt
// trunk, projector, mask-aware extractor, LLaMA decoder) at small sizes, held together for
// training, and written out as a checkpoint in Osprey's published key layout.
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/region/mask_extractor.hpp"
#include "regionlm/vision/convnext.hpp"
#include "regionlm/vision/projector.hpp"

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

/// config.json text for `config`: the LLaMA/Osprey fields of a published checkpoint plus the
/// `vision_config` and `mask_extractor_config` objects that carry the small sizes.
nlohmann::ordered_json config_json(const OspreyConfig& config);

/// Checkpoint key prefixes of Osprey's modules.
inline constexpr const char* kTrunkPrefix = "model.vision_tower.vision_tower.visual.trunk.";
inline constexpr const char* kProjectorPrefix = "model.mm_projector.";
inline constexpr const char* kExtractorPrefix = "mask_extractor.";

class TinyOspreyImpl : public torch::nn::Module {
 public:
  /// Builds every part in float32 on the CPU, parameters uninitialised (see initialize()).
  explicit TinyOspreyImpl(const OspreyConfig& config);

  /// Draws fresh weights from torch's global generator (seed it first): normal(0, 0.02)
  /// for matrices, convolutions and embeddings (LLaMA's and ConvNeXt's initializer range),
  /// zero biases, unit norms, and ConvNeXt layer scales set to `layer_scale`.
  void initialize(double layer_scale);

  /// Every weight under its Osprey checkpoint key (contiguous CPU float32 tensors).
  std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors() const;

  const OspreyConfig& config() const { return config_; }

  vision::ConvNeXt trunk{nullptr};
  vision::Projector projector{nullptr};
  region::MaskExtractor mask_extractor{nullptr};
  llm::Llama llama{nullptr};

 private:
  OspreyConfig config_;
};
TORCH_MODULE(TinyOsprey);

}  // namespace regionlm::tiny_shapes
