#pragma once
// GPT4RoI's region branch `MLVLROIQueryModule` (checkpoint prefix `model.spi_module.`): CLIP
// patch tokens of several layers -> a pyramid (finest level 2^(L-1) times the patch grid, by
// bilinear align_corners upsampling) -> MlvlFuse -> RoiExtractor -> one decoder-width
// feature per box, which replaces the embedding of that box's `<bbox>` token.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/gpt4roi/mlvl_fuse.hpp"
#include "regionlm/gpt4roi/roi_extractor.hpp"
#include "regionlm/io/weights.hpp"

namespace regionlm::gpt4roi {

class SpiModuleImpl : public torch::nn::Module {
 public:
  /// Widths from the vision tower (hidden_size, image/patch size) and the decoder
  /// (out_dims = its hidden size). Throws ConfigError for widths the fuse cannot split.
  SpiModuleImpl(const ClipVisionConfig& vision, int64_t out_dims, const SpiConfig& config,
                const torch::TensorOptions& options);

  /// tokens: num_levels CLIP hidden states without CLS, [1, g*g, C] each (ascending layer
  /// order, as hidden_state_indices gives them); boxes [K, 4] normalised xyxy on the
  /// module's device -> [K, out_dims] in the module's dtype. Throws ShapeError for other
  /// shapes or devices.
  torch::Tensor forward(const std::vector<torch::Tensor>& tokens, const torch::Tensor& boxes);

  /// The fused pyramid alone (for tests): maps [1, C, g*2^(L-1-l), ...] finest first.
  std::vector<torch::Tensor> fused_levels(const std::vector<torch::Tensor>& tokens);

  const SpiConfig& config() const { return config_; }
  torch::TensorOptions options() const;

  MlvlFuse mlvl_fuse{nullptr};
  RoiExtractor roi_align{nullptr};  // the checkpoint names the extractor `roi_align`

 private:
  ClipVisionConfig vision_;
  SpiConfig config_;
};
TORCH_MODULE(SpiModule);

/// Builds a SpiModule for `config` (vision from config.vision, out_dims = the decoder width)
/// with `options` and fills it from `weights` (keys `prefix` + "mlvl_fuse.…" / "roi_align.…").
/// Throws WeightError naming every missing or misshapen key and the checkpoint.
SpiModule load_spi_module(const Weights& weights, const Gpt4roiConfig& config,
                          const torch::TensorOptions& options,
                          const std::string& prefix = "model.spi_module.");

}  // namespace regionlm::gpt4roi
