#pragma once
// The LLaMA trunk (HF `LlamaModel`, checkpoint prefix `model.`): token embedding, decoder
// layers and the final RMSNorm. Stateless during forward: all per-sequence state is in the
// KVCache passed in, so one instance serves any number of threads.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/llm/decoder_layer.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/rms_norm.hpp"
#include "regionlm/llm/rotary_embedding.hpp"
#include "regionlm/llm/token_embedding.hpp"

namespace regionlm::llm {

class LlamaModelImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError for inconsistent hyper-parameters (hidden not divisible by heads,
  /// heads not divisible by kv heads, unsupported activation or rope scaling).
  LlamaModelImpl(const LlamaConfig& config, const torch::TensorOptions& options);

  /// Runs T new positions (cache.length() .. +T-1) over inputs_embeds [B, T, hidden],
  /// appends their keys/values to `cache` and returns the final-normed hidden states
  /// [B, T, hidden]. Throws ShapeError (width, batch, dtype, device) or ArgumentError
  /// (capacity, max positions) before touching the cache.
  torch::Tensor forward(const torch::Tensor& inputs_embeds, KVCache& cache) const;
  /// One decode step of independent sequences: row r of inputs_embeds [B, 1, hidden] is the
  /// next position of rows[r] (a batch-1 cache with room for it, each at its own length, any
  /// shared prefix), appended there; returns [B, 1, hidden]. The linear layers run once for
  /// all rows; attention runs per row. Throws ShapeError / ArgumentError before touching any
  /// cache.
  torch::Tensor forward_rows(const torch::Tensor& inputs_embeds, const std::vector<KVCache*>& rows) const;
  /// Full causal forward without a cache (positions 0 .. T-1), for training and scoring.
  torch::Tensor forward_train(const torch::Tensor& inputs_embeds) const;

  const LlamaConfig& config() const { return config_; }

  TokenEmbedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  torch::Tensor run_layers(torch::Tensor hidden, AttentionContext& context) const;
  void check_embeds(const torch::Tensor& inputs_embeds) const;
  /// Throws unless `cache` takes `steps` more positions of `batch` rows of `inputs_embeds`
  /// (batch, layer count, dtype, device, room); `what` names the cache in the message.
  void check_cache(const KVCache& cache, const torch::Tensor& inputs_embeds, int64_t batch, int64_t steps,
                   const std::string& what) const;

  LlamaConfig config_;
  std::vector<LlamaDecoderLayer> decoder_layers_;  // the same modules as `layers`, typed
  RotaryEmbedding rotary_;
};
TORCH_MODULE(LlamaModel);

}  // namespace regionlm::llm
