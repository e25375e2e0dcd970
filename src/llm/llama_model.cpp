#include "regionlm/llm/llama_model.hpp"

#include <torch/torch.h>

#include "regionlm/error.hpp"

namespace regionlm::llm {
namespace {

/// `config` after checking that its sizes are usable; throws ConfigError naming the field.
const LlamaConfig& validated(const LlamaConfig& config) {
  auto positive = [](const char* name, int64_t value) {
    if (value < 1) {
      throw ConfigError(std::string("LlamaConfig: ") + name + " must be >= 1, got " +
                        std::to_string(value));
    }
  };
  positive("vocab_size", config.vocab_size);
  positive("hidden_size", config.hidden_size);
  positive("intermediate_size", config.intermediate_size);
  positive("num_hidden_layers", config.num_hidden_layers);
  positive("num_attention_heads", config.num_attention_heads);
  positive("num_key_value_heads", config.num_key_value_heads);
  positive("max_position_embeddings", config.max_position_embeddings);
  if (config.hidden_size % config.num_attention_heads != 0) {
    throw ConfigError("LlamaConfig: hidden_size " + std::to_string(config.hidden_size) +
                      " is not divisible by num_attention_heads " +
                      std::to_string(config.num_attention_heads));
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    throw ConfigError("LlamaConfig: num_attention_heads " +
                      std::to_string(config.num_attention_heads) +
                      " is not divisible by num_key_value_heads " +
                      std::to_string(config.num_key_value_heads));
  }
  return config;
}

}  // namespace

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config, const torch::TensorOptions& options)
    : config_(validated(config)), rotary_(config, options) {
  embed_tokens = register_module(
      "embed_tokens", TokenEmbedding(config.vocab_size, config.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    decoder_layers_.emplace_back(config, options);
    layers->push_back(decoder_layers_.back());
  }
  norm = register_module("norm", RMSNorm(config.hidden_size, config.rms_norm_eps, options));
}

void LlamaModelImpl::check_embeds(const torch::Tensor& inputs_embeds) const {
  const auto& weight = embed_tokens->weight;
  if (inputs_embeds.dim() != 3 || inputs_embeds.size(2) != config_.hidden_size ||
      inputs_embeds.size(1) < 1) {
    throw ShapeError("Llama: inputs_embeds must be [batch, T >= 1, hidden_size = " +
                     std::to_string(config_.hidden_size) + "], got " +
                     c10::str(inputs_embeds.sizes()));
  }
  if (inputs_embeds.scalar_type() != weight.scalar_type() ||
      inputs_embeds.device() != weight.device()) {
    throw ShapeError("Llama: inputs_embeds must have the model's dtype and device (" +
                     c10::str(weight.scalar_type(), " on ", weight.device()) + "), got " +
                     c10::str(inputs_embeds.scalar_type(), " on ", inputs_embeds.device()));
  }
}

void LlamaModelImpl::check_cache(const KVCache& cache, const torch::Tensor& inputs_embeds, int64_t batch,
                                 int64_t steps, const std::string& what) const {
  if (batch != cache.batch()) {
    throw ShapeError("Llama: inputs_embeds has batch " + std::to_string(batch) + " but " + what + " holds " +
                     std::to_string(cache.batch()) + " rows");
  }
  const auto cache_options = cache.options();
  if (cache_options.dtype() != inputs_embeds.dtype() || cache_options.device() != inputs_embeds.device() ||
      cache.num_layers() != config_.num_hidden_layers) {
    throw ShapeError("Llama: " + what + " was built for another layer count, dtype or device than the model's");
  }
  if (cache.length() + steps > cache.capacity()) {
    throw ArgumentError("Llama: " + std::to_string(steps) + " new positions after " + std::to_string(cache.length()) +
                        " exceed the capacity " + std::to_string(cache.capacity()) + " of " + what +
                        " (max_position_embeddings " + std::to_string(config_.max_position_embeddings) + ")");
  }
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& inputs_embeds, KVCache& cache) const {
  check_embeds(inputs_embeds);
  const int64_t batch = inputs_embeds.size(0);
  const int64_t steps = inputs_embeds.size(1);
  const int64_t start = cache.length();
  check_cache(cache, inputs_embeds, batch, steps, "the KVCache");
  AttentionContext context;
  context.angles = rotary_.angles(start, steps);  // positions count the shared prefix too
  context.cache = &cache;
  // The mask covers the positions the cache stores itself; a shared prefix is visible to all.
  const int64_t own_start = start - cache.prefix_length();
  if (steps > 1 && own_start == 0) {
    context.causal = true;  // square score matrix: SDPA's top-left causal mask is right
  } else if (steps > 1) {
    // Queries sit at positions own_start .. own_start+T-1 and see keys 0 .. their own
    // position; SDPA's is_causal would align the diagonal top-left, so spell the mask out.
    const auto device_long =
        torch::TensorOptions().dtype(torch::kLong).device(inputs_embeds.device());
    const auto key_positions = torch::arange(own_start + steps, device_long);              // [S]
    const auto query_positions = torch::arange(own_start, own_start + steps, device_long);  // [T]
    context.mask = key_positions.unsqueeze(0) <= query_positions.unsqueeze(1);              // [T, S]
  }
  auto hidden = run_layers(inputs_embeds, context);  // [B, T, hidden]
  cache.advance(steps);
  return hidden;
}

torch::Tensor LlamaModelImpl::forward_rows(const torch::Tensor& inputs_embeds, const std::vector<KVCache*>& rows) const {
  check_embeds(inputs_embeds);
  const int64_t batch = inputs_embeds.size(0);
  if (inputs_embeds.size(1) != 1 || batch != static_cast<int64_t>(rows.size())) {
    throw ShapeError("Llama::forward_rows: inputs_embeds must be [rows = " + std::to_string(rows.size()) +
                     ", 1, hidden], got " + c10::str(inputs_embeds.sizes()));
  }
  AttentionContext context;
  for (size_t r = 0; r < rows.size(); ++r) {
    const KVCache* cache = rows[r];
    const std::string what = "forward_rows' row " + std::to_string(r) + " KVCache";
    if (cache == nullptr) throw ArgumentError("Llama: " + what + " is null");
    check_cache(*cache, inputs_embeds, /*batch=*/1, /*steps=*/1, what);
    for (size_t s = 0; s < r; ++s) {
      if (rows[s] == cache) throw ArgumentError("Llama::forward_rows: rows " + std::to_string(s) + " and " +
                                                std::to_string(r) + " share one KVCache");
    }
    context.row_angles.push_back(rotary_.angles(cache->length(), 1));
  }
  context.rows = rows;
  auto hidden = run_layers(inputs_embeds, context);  // [B, 1, hidden]
  for (KVCache* cache : rows) cache->advance(1);
  return hidden;
}

torch::Tensor LlamaModelImpl::forward_train(const torch::Tensor& inputs_embeds) const {
  check_embeds(inputs_embeds);
  const int64_t steps = inputs_embeds.size(1);
  if (steps > config_.max_position_embeddings) {
    throw ArgumentError("Llama: sequence of " + std::to_string(steps) +
                        " positions exceeds max_position_embeddings " +
                        std::to_string(config_.max_position_embeddings));
  }
  AttentionContext context;
  context.angles = rotary_.angles(0, steps);
  context.causal = steps > 1;
  return run_layers(inputs_embeds, context);  // [B, T, hidden]
}

torch::Tensor LlamaModelImpl::run_layers(torch::Tensor hidden, AttentionContext& context) const {
  for (size_t i = 0; i < decoder_layers_.size(); ++i) {
    context.layer = static_cast<int64_t>(i);
    hidden = decoder_layers_[i]->forward(hidden, context);  // [B, T, hidden]
  }
  return norm->forward(hidden);  // [B, T, hidden]
}

}  // namespace regionlm::llm
