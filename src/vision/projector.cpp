#include "regionlm/vision/projector.hpp"

#include <torch/torch.h>

#include "regionlm/config.hpp"
#include "regionlm/error.hpp"

namespace regionlm::vision {

ProjectorImpl::ProjectorImpl(const std::string& type, int64_t in_dim, int64_t out_dim,
                             const torch::TensorOptions& options)
    : in_dim_(in_dim), out_dim_(out_dim) {
  const int64_t count = projector_linear_count(type);
  if (in_dim <= 0 || out_dim <= 0) {
    throw ConfigError("Projector: widths must be positive, got in_dim " +
                      std::to_string(in_dim) + ", out_dim " + std::to_string(out_dim));
  }
  if (type == "linear") {
    weight_ = register_parameter("weight", torch::empty({out_dim, in_dim}, options));
    bias_ = register_parameter("bias", torch::empty({out_dim}, options));
    return;
  }
  // nn.Sequential(Linear, GELU, Linear, GELU, ...): Linear layers sit at even indices.
  for (int64_t i = 0; i < count; ++i) {
    linears_.push_back(register_module(std::to_string(2 * i),
                                       Linear(i == 0 ? in_dim : out_dim, out_dim, options)));
  }
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& feature_map) {
  // Every layer has a bias, in the projector's dtype and on its device (weights may be int8).
  const torch::Tensor& first_weight = linears_.empty() ? bias_ : linears_.front()->bias;
  if (feature_map.dim() != 4 || feature_map.size(1) != in_dim_ ||
      !feature_map.is_floating_point()) {
    throw ShapeError("Projector: expected a floating-point feature map [B, " +
                     std::to_string(in_dim_) + ", h, w], got " +
                     std::string(toString(feature_map.scalar_type())) + " " +
                     c10::str(feature_map.sizes()));
  }
  if (feature_map.device() != first_weight.device()) {
    throw ShapeError("Projector: feature map is on " + feature_map.device().str() +
                     " but the projector's weights on " + first_weight.device().str());
  }
  auto x = feature_map.to(first_weight.scalar_type()).flatten(2).transpose(1, 2);  // [B, h*w, in]
  if (linears_.empty()) return torch::linear(x, weight_, bias_);  // [B, h*w, out]
  for (size_t i = 0; i < linears_.size(); ++i) {
    if (i > 0) x = torch::gelu(x);
    x = linears_[i]->forward(x);  // [B, h*w, out]
  }
  return x;
}

}  // namespace regionlm::vision
