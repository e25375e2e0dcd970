#pragma once
// A bias-free linear map `y = x W^T` with the weight registered as `weight` (HF
// `nn.Linear(..., bias=False)`). Unlike torch::nn::Linear it allocates its weight
// uninitialised, in the requested dtype and device, so a 7B model is never randomly
// initialised or materialised in float32 first.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace regionlm::llm {

class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options);
  /// [..., in] -> [..., out]
  torch::Tensor forward(const torch::Tensor& x) const;

  torch::Tensor weight;  // [out, in]
};
TORCH_MODULE(Projection);

}  // namespace regionlm::llm
