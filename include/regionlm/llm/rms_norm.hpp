#pragma once
// LLaMA RMSNorm as transformers 4.31 computes it: the mean square in float32, the
// normalised activations cast back to the input dtype, *then* scaled by `weight`
// (`weight * hidden.to(input_dtype)`), which rounds differently from scaling in float32.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace regionlm::llm {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t hidden_size, double eps, const torch::TensorOptions& options);
  /// [..., hidden] -> [..., hidden] (dtype of the input times weight's).
  torch::Tensor forward(const torch::Tensor& x) const;

  torch::Tensor weight;  // [hidden]

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace regionlm::llm
