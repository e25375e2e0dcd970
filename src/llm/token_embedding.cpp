#include "regionlm/llm/token_embedding.hpp"

#include <torch/torch.h>

namespace regionlm::llm {

TokenEmbeddingImpl::TokenEmbeddingImpl(int64_t vocab_size, int64_t hidden_size,
                                       const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({vocab_size, hidden_size}, options));
}

torch::Tensor TokenEmbeddingImpl::forward(const torch::Tensor& ids) const {
  return torch::embedding(weight, ids);  // [..., hidden]
}

}  // namespace regionlm::llm
