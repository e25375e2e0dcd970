#include "regionlm/layers/linear.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::layers {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features,
                       const torch::TensorOptions& options, bool bias)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0) {
    throw ArgumentError("Linear: in_features and out_features must be positive, got " +
                        std::to_string(in_features) + " and " + std::to_string(out_features));
  }
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (bias) this->bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) const {
  return torch::linear(x, weight, bias);  // [..., out_features]; an undefined bias adds nothing
}

}  // namespace regionlm::layers
