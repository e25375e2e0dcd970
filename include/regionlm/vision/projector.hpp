#pragma once
// The multimodal projector (LLaVA's `mm_projector`): turns one trunk feature map into image
// tokens for the decoder. Key layout as in the checkpoints (prefix `model.mm_projector.`):
//  - "mlp2x_gelu" (Osprey): children "0" and "2" (Linear, GELU, Linear); in general
//    "mlp<N>x_gelu" has N Linear layers at children 0, 2, ..., 2(N-1) with GELU between;
//  - "linear": a single Linear whose `weight`/`bias` sit directly under the prefix.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "regionlm/vision/layers.hpp"

namespace regionlm::vision {

class ProjectorImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError for an unknown `type` or non-positive widths.
  ProjectorImpl(const std::string& type, int64_t in_dim, int64_t out_dim,
                const torch::TensorOptions& options);

  /// feature_map: [B, in_dim, h, w] on the module's device (converted to its dtype).
  /// Returns [B, h * w, out_dim]; token y * w + x is pixel (y, x) (row-major).
  /// Throws ShapeError for another rank, width or device.
  torch::Tensor forward(const torch::Tensor& feature_map);

  int64_t in_dim() const { return in_dim_; }
  int64_t out_dim() const { return out_dim_; }

 private:
  int64_t in_dim_;
  int64_t out_dim_;
  // The Linear layers "0", "2", ..., applied in order with exact GELU between consecutive
  // ones (they may be quantized to int8 after loading: layers::Linear::quantize_int8).
  std::vector<Linear> linears_;
  // "linear": weight/bias registered directly on the projector (its checkpoint layout).
  torch::Tensor weight_;
  torch::Tensor bias_;
};
TORCH_MODULE(Projector);

}  // namespace regionlm::vision
