#include "regionlm/llm/projection.hpp"

#include <torch/torch.h>

namespace regionlm::llm {

ProjectionImpl::ProjectionImpl(int64_t in_features, int64_t out_features,
                               const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) const {
  return torch::linear(x, weight);  // [..., out]
}

}  // namespace regionlm::llm
