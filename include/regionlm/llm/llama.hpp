#pragma once
// LLaMA causal language model (HF `LlamaForCausalLM`): the trunk under `model.` and the
// output projection `lm_head` (absent when tie_word_embeddings: the embedding table is
// reused). Parameter names mirror the checkpoint keys, so loading is
// `load_module(*llama, weights, "")`; see load_llama().
//
// Weights are immutable after load and shared: forward keeps no state in the module, it
// reads and appends the caller's KVCache. Any number of threads may run forwards on one
// Llama concurrently, each with its own KVCache.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <vector>

#include "regionlm/config.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama_model.hpp"
#include "regionlm/layers/linear.hpp"

namespace regionlm::llm {

class LlamaImpl : public torch::nn::Module {
 public:
  /// Registers uninitialised parameters with `options` (dtype, device). Throws ConfigError
  /// for inconsistent or unsupported hyper-parameters.
  LlamaImpl(const LlamaConfig& config, const torch::TensorOptions& options);

  /// Token ids [B, T] int64 -> embeddings [B, T, hidden]. Throws ShapeError for a
  /// non-integer or non-2-D tensor and ArgumentError for ids outside [0, vocab_size).
  torch::Tensor embed(const torch::Tensor& ids) const;

  /// Runs T new positions (cache.length() .. +T-1) over inputs_embeds [B, T, hidden],
  /// appends their keys/values to `cache` and returns float32 logits [B, T, vocab], or only
  /// the last position's [B, 1, vocab] when `last_only`. Prefill and single-token decode are
  /// the same call. Throws ShapeError for a wrong width, batch, dtype or device and
  /// ArgumentError when the positions would pass the cache's capacity or
  /// max_position_embeddings; the cache is untouched then.
  torch::Tensor forward(const torch::Tensor& inputs_embeds, KVCache& cache,
                        bool last_only = false) const;
  /// One decode step of independent sequences (see LlamaModelImpl::forward_rows): row r of
  /// inputs_embeds [B, 1, hidden] continues rows[r]; returns float32 logits [B, 1, vocab].
  torch::Tensor forward_rows(const torch::Tensor& inputs_embeds, const std::vector<KVCache*>& rows) const;
  /// forward(embed(ids), cache, last_only).
  torch::Tensor forward_ids(const torch::Tensor& ids, KVCache& cache, bool last_only = false) const;

  /// Training path: full causal forward over inputs_embeds [B, T, hidden] (positions
  /// 0 .. T-1, no cache) -> float32 logits [B, T, vocab]. Differentiable.
  torch::Tensor forward_train(const torch::Tensor& inputs_embeds) const;

  /// Output projection applied to final-normed hidden states [..., hidden] -> float32
  /// logits [..., vocab].
  torch::Tensor logits(const torch::Tensor& hidden) const;

  const LlamaConfig& config() const { return model->config(); }
  /// dtype and device of the weights (what inputs_embeds and a KVCache must use).
  torch::TensorOptions options() const;

  LlamaModel model{nullptr};
  layers::Linear lm_head{nullptr};  // null when tie_word_embeddings
};
TORCH_MODULE(Llama);

/// Builds a Llama with `options` and fills it from `weights` (keys `prefix` + "model.…",
/// `prefix` + "lm_head.weight"). With tied embeddings a stored lm_head.weight is ignored.
/// Throws WeightError naming every missing or misshapen key and the checkpoint.
Llama load_llama(const Weights& weights, const LlamaConfig& config,
                 const torch::TensorOptions& options, const std::string& prefix = "");
/// Reads `config.json` and the checkpoint from a Hugging Face model directory.
Llama load_llama(const std::filesystem::path& model_dir, const torch::TensorOptions& options);

}  // namespace regionlm::llm
