#pragma once
// SAM's prompt encoder: points and box corners become sparse tokens (random Fourier
// positional encoding + a learned per-kind embedding), a low-resolution mask becomes a dense
// embedding through a small convolutional downscaler. Keys under `prompt_encoder.`.
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

class PromptEncoderImpl : public torch::nn::Module {
 public:
  PromptEncoderImpl(const SamConfig& cfg, const torch::TensorOptions& options);

  /// Fourier features of coordinates normalised to [0, 1]: [..., 2] -> [..., P] (float32
  /// arithmetic, converted to the module dtype).
  torch::Tensor encode_unit_coords(const torch::Tensor& unit_xy);
  /// Positional encoding of every embedding cell centre: [1, P, e, e].
  torch::Tensor dense_positional_encoding();

  /// Embeds one batch of prompts, all with the same structure. Coordinates are in the
  /// encoder's input frame (after the longest-side resize), px.
  ///  points: [B, N, 2] (float64 or float32) with labels [B, N] (1 positive, 0 negative,
  ///          -1 padding); undefined when absent;
  ///  boxes:  [B, 4] x0, y0, x1, y1; undefined when absent;
  ///  masks:  [B, 1, 4e, 4e] low-resolution logits; undefined when absent.
  /// Returns sparse [B, T, P] (T = N + 1 without a box, N + 2 with one) and dense
  /// [B, P, e, e]; `batch` is B when every input is absent.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& points, const torch::Tensor& labels,
                                                  const torch::Tensor& boxes, const torch::Tensor& masks,
                                                  int64_t batch);

  torch::Tensor gaussian;  // pe_layer.positional_encoding_gaussian_matrix [2, P / 2]
  torch::nn::ModuleList point_embeddings{nullptr};  // 4 x Embedding(1, P): neg, pos, box TL, box BR
  Embedding not_a_point_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  Embedding no_mask_embed{nullptr};

 private:
  torch::Tensor point_embedding(int64_t i);  // [P]
  int64_t embed_dim_;
  int64_t image_size_;
  int64_t embedding_size_;
};
TORCH_MODULE(PromptEncoder);

}  // namespace regionlm::sam
