#include "regionlm/llm/rms_norm.hpp"

#include <torch/torch.h>

namespace regionlm::llm {

RMSNormImpl::RMSNormImpl(int64_t hidden_size, double eps, const torch::TensorOptions& options)
    : eps_(eps) {
  weight = register_parameter("weight", torch::empty({hidden_size}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) const {
  const auto x32 = x.to(torch::kFloat);                           // [..., H]
  const auto variance = x32.pow(2).mean(-1, /*keepdim=*/true);     // [..., 1]
  const auto normed = x32 * torch::rsqrt(variance + eps_);          // [..., H]
  return weight * normed.to(x.scalar_type());                       // [..., H]
}

}  // namespace regionlm::llm
