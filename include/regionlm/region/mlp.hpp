#pragma once
// Osprey's position MLP (`mask_linear`): Linear layers `layers.{0..n-1}` with a ReLU after
// every layer but the last.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "regionlm/layers/linear.hpp"

namespace regionlm::region {

class MlpImpl : public torch::nn::Module {
 public:
  /// in_dim -> hidden_dim (num_layers - 1 times) -> out_dim; num_layers >= 1.
  MlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t num_layers,
          const torch::TensorOptions& options);

  /// x: [N, in_dim] -> [N, out_dim].
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::ModuleList layers_;   // registered as "layers"
  std::vector<layers::Linear> linears_;  // the same modules, typed
};
TORCH_MODULE(Mlp);

}  // namespace regionlm::region
