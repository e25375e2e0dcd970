#pragma once
// GPT4RoI's `MlvlRoIExtractor` (checkpoint prefix `model.spi_module.roi_align.`): every box
// is pooled from every level with RoIAlign, each level's pooled map goes through its own 3x3
// conv (`pconvs.l`), the levels are summed, ReLU, flattened (C, H, W order) and projected
// (`flatten_linear`); a box-position MLP (`pos_embedd`) on the normalised box is added, and
// `updims` lifts the result to the decoder width.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/vision/layers.hpp"

namespace regionlm::gpt4roi {

/// `pos_embedd`: Sequential(Linear(4, P) "0", ReLU, LayerNorm(P) "2", Linear(P, Q) "3",
/// ReLU, LayerNorm(Q) "5").
class BoxEmbeddingImpl : public torch::nn::Module {
 public:
  BoxEmbeddingImpl(int64_t hidden, int64_t out, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& boxes);  // [K, 4] -> [K, Q]

 private:
  layers::Linear first_{nullptr}, second_{nullptr};
  vision::LayerNorm first_norm_{nullptr}, second_norm_{nullptr};
};
TORCH_MODULE(BoxEmbedding);

class RoiExtractorImpl : public torch::nn::Module {
 public:
  /// channels: level width; out_dims: decoder width. `image_size` and `patch_size` place the
  /// levels: level l of L has stride patch_size / 2^(L-1-l) input pixels and boxes are
  /// scaled by image_size (GPT4RoI-7B: 224 and 14, strides 1.75, 3.5, 7, 14).
  RoiExtractorImpl(int64_t channels, int64_t out_dims, int64_t image_size, int64_t patch_size,
                   const SpiConfig& config, const torch::TensorOptions& options);

  /// levels: fused maps [1, C, H_l, W_l] (finest first); boxes: [K, 4] normalised xyxy in
  /// [0, 1] on the module's device -> [K, out_dims]. Boxes are cast to the module's dtype
  /// first (the original feeds them in the model's precision); RoIAlign runs in float32.
  torch::Tensor forward(const std::vector<torch::Tensor>& levels, const torch::Tensor& boxes);

  torch::nn::ModuleList pconvs{nullptr};
  BoxEmbedding pos_embedd{nullptr};
  layers::Linear flatten_linear{nullptr};
  layers::Linear updims{nullptr};

 private:
  SpiConfig config_;
  int64_t image_size_;
  int64_t patch_size_;
  std::vector<vision::Conv2d> level_convs_;
};
TORCH_MODULE(RoiExtractor);

}  // namespace regionlm::gpt4roi
