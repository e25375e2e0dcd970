#pragma once
// Token embedding table registered as `weight` [vocab, hidden] (HF `nn.Embedding`),
// allocated uninitialised like every regionlm module.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace regionlm::llm {

class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab_size, int64_t hidden_size, const torch::TensorOptions& options);
  /// ids [...] int64 -> [..., hidden]. Ids are not range-checked here (that needs a device
  /// sync); `LlamaImpl::embed` checks user-supplied ids.
  torch::Tensor forward(const torch::Tensor& ids) const;

  torch::Tensor weight;  // [vocab, hidden]
};
TORCH_MODULE(TokenEmbedding);

}  // namespace regionlm::llm
