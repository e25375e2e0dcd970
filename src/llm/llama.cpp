#include "regionlm/llm/llama.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"

namespace regionlm::llm {

LlamaImpl::LlamaImpl(const LlamaConfig& config, const torch::TensorOptions& options) {
  model = register_module("model", LlamaModel(config, options));
  if (!config.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head", layers::Linear(config.hidden_size, config.vocab_size, options, /*bias=*/false));
  }
}

torch::TensorOptions LlamaImpl::options() const { return model->embed_tokens->weight.options(); }

torch::Tensor LlamaImpl::embed(const torch::Tensor& ids) const {
  if (ids.dim() != 2 || !c10::isIntegralType(ids.scalar_type(), /*includeBool=*/false)) {
    throw ShapeError("Llama::embed: ids must be an integer tensor [batch, T], got " +
                     c10::str(ids.scalar_type(), " ", ids.sizes()));
  }
  const auto device_ids = ids.to(model->embed_tokens->weight.device(), torch::kLong);  // [B, T]
  if (device_ids.numel() > 0) {
    // One reduction and one sync: an out-of-range id would otherwise be a device-side
    // assert on CUDA.
    const auto [lowest, highest] = torch::aminmax(device_ids);
    const int64_t low = lowest.item<int64_t>();
    const int64_t high = highest.item<int64_t>();
    if (low < 0 || high >= config().vocab_size) {
      throw ArgumentError("Llama::embed: token ids must be in [0, vocab_size = " +
                          std::to_string(config().vocab_size) + "), got range [" +
                          std::to_string(low) + ", " + std::to_string(high) + "]");
    }
  }
  return model->embed_tokens->forward(device_ids);  // [B, T, hidden]
}

torch::Tensor LlamaImpl::logits(const torch::Tensor& hidden) const {
  if (lm_head) return lm_head->forward(hidden).to(torch::kFloat);            // [..., V] (lm_head may be int8)
  return torch::linear(hidden, model->embed_tokens->weight).to(torch::kFloat);  // [..., V], tied to [V, hidden]
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& inputs_embeds, KVCache& cache,
                                 bool last_only) const {
  auto hidden = model->forward(inputs_embeds, cache);          // [B, T, hidden]
  if (last_only) hidden = hidden.narrow(1, hidden.size(1) - 1, 1);  // [B, 1, hidden]
  return logits(hidden);                                        // [B, T or 1, V]
}

torch::Tensor LlamaImpl::forward_rows(const torch::Tensor& inputs_embeds, const std::vector<KVCache*>& rows) const {
  return logits(model->forward_rows(inputs_embeds, rows));  // [B, 1, V]
}

torch::Tensor LlamaImpl::forward_ids(const torch::Tensor& ids, KVCache& cache,
                                     bool last_only) const {
  return forward(embed(ids), cache, last_only);  // [B, T or 1, V]
}

torch::Tensor LlamaImpl::forward_train(const torch::Tensor& inputs_embeds) const {
  return logits(model->forward_train(inputs_embeds));  // [B, T, V]
}

Llama load_llama(const Weights& weights, const LlamaConfig& config,
                 const torch::TensorOptions& options, const std::string& prefix) {
  Llama llama(config, options);
  load_module(*llama, weights, prefix);
  return llama;
}

Llama load_llama(const std::filesystem::path& model_dir, const torch::TensorOptions& options) {
  return load_llama(load_weights(model_dir), load_llama_config(model_dir), options);
}

}  // namespace regionlm::llm
