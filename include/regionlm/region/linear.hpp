#pragma once
// A fully connected layer whose parameters are allocated but not initialised, so a
// checkpoint-sized extractor is never randomly initialised before its weights are loaded.
// Same parameter names (`weight` [out, in], `bias` [out]) and maths as torch::nn::Linear.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace regionlm::region {

class LinearImpl : public torch::nn::Module {
 public:
  /// `options` gives the parameters' device and dtype.
  LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options);

  /// x: [..., in_features] in the parameters' dtype -> [..., out_features].
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  torch::Tensor weight;  // [out_features, in_features]
  torch::Tensor bias;    // [out_features]

 private:
  int64_t in_features_;
  int64_t out_features_;
};
TORCH_MODULE(Linear);

}  // namespace regionlm::region
