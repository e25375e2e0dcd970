#include "regionlm/region/mlp.hpp"

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::region {

MlpImpl::MlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t num_layers,
                 const torch::TensorOptions& options) {
  if (num_layers < 1) {
    throw ArgumentError("Mlp: num_layers must be >= 1, got " + std::to_string(num_layers));
  }
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    const int64_t in = i == 0 ? in_dim : hidden_dim;
    const int64_t out = i == num_layers - 1 ? out_dim : hidden_dim;
    linears_.emplace_back(in, out, options);
    layers_->push_back(linears_.back());
  }
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < linears_.size(); ++i) {
    x = linears_[i]->forward(x);  // [N, width_i]
    if (i + 1 < linears_.size()) x = torch::relu(x);
  }
  return x;  // [N, out_dim]
}

}  // namespace regionlm::region
