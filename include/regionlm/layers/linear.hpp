#pragma once
// The one fully connected layer of every part of the model (ConvNeXt MLPs, projector, mask
// extractor, LLaMA projections). Unlike torch::nn::Linear it allocates its parameters
// uninitialised (torch::empty) in the requested dtype and device, so a checkpoint-sized model
// is never randomly initialised, or materialised in float32 first, before its weights load.
// Parameter names are PyTorch's: `weight` [out, in] and, when it has one, `bias` [out].
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace regionlm::layers {

class LinearImpl : public torch::nn::Module {
 public:
  /// `options`: the parameters' device and dtype. `bias` = false registers no `bias`
  /// (LLaMA's projections, HF `nn.Linear(..., bias=False)`). Throws ArgumentError for
  /// non-positive sizes.
  LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options,
             bool bias = true);

  /// x: [..., in_features] in the parameters' dtype -> [..., out_features].
  torch::Tensor forward(const torch::Tensor& x) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  torch::Tensor weight;  // [out_features, in_features]
  torch::Tensor bias;    // [out_features]; undefined without bias

 private:
  int64_t in_features_;
  int64_t out_features_;
};
TORCH_MODULE(Linear);

}  // namespace regionlm::layers
