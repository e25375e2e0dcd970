// Bad input to the decoder fails with the typed error that names the problem: inconsistent
// configs, wrong embedding width / dtype / batch, positions past capacity or max positions,
// out-of-range ids, invalid generation options, and missing or misshapen checkpoint keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "llm_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/llm/sampler.hpp"
#include "test_util.hpp"

using namespace regionlm;
using namespace regionlm::llm;

namespace {

template <typename Error, typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an exception";
  return {};
}

TEST(LlamaErrors, InconsistentConfigsAreRejected) {
  const auto options = torch::TensorOptions(torch::kFloat);
  auto config = test::small_llama_config();
  config.hidden_size = 30;  // not divisible by 4 heads
  EXPECT_THAT(error_message<ConfigError>([&] { Llama(config, options); }),
              ::testing::HasSubstr("num_attention_heads"));
  config = test::small_llama_config();
  config.num_key_value_heads = 3;
  EXPECT_THROW(Llama(config, options), ConfigError);
  config = test::small_llama_config();
  config.rope_scaling = RopeScaling{"yarn", 2.0};
  EXPECT_THAT(error_message<ConfigError>([&] { Llama(config, options); }),
              ::testing::HasSubstr("yarn"));
  config = test::small_llama_config();
  config.hidden_act = "gelu";
  EXPECT_THROW(Llama(config, options), ConfigError);
}

class LlamaInputErrors : public ::testing::Test {
 protected:
  LlamaConfig config = test::small_llama_config();
  Llama model = test::random_llama(config, 2);
  c10::InferenceMode inference;
};

TEST_F(LlamaInputErrors, WrongEmbeddingsAreShapeErrors) {
  KVCache cache(config, 1, 16, model->options());
  EXPECT_THAT(error_message<ShapeError>(
                  [&] { model->forward(torch::zeros({1, 3, config.hidden_size + 1}), cache); }),
              ::testing::HasSubstr("hidden_size = 32"));
  EXPECT_THROW(model->forward(torch::zeros({3, config.hidden_size}), cache), ShapeError);
  EXPECT_THROW(model->forward(torch::zeros({1, 3, config.hidden_size}, torch::kDouble), cache),
               ShapeError);
  EXPECT_THROW(model->forward(torch::zeros({2, 3, config.hidden_size}), cache), ShapeError);
  KVCache bf16_cache(config, 1, 16, torch::TensorOptions(torch::kBFloat16));
  EXPECT_THROW(model->forward(torch::zeros({1, 3, config.hidden_size}), bf16_cache), ShapeError);
  EXPECT_THROW(model->forward_train(torch::zeros({1, 3, 7})), ShapeError);
  EXPECT_EQ(cache.length(), 0);
}

TEST_F(LlamaInputErrors, PositionsPastCapacityOrMaxPositionsAreArgumentErrors) {
  KVCache cache(config, 1, 8, model->options());
  model->forward(torch::zeros({1, 6, config.hidden_size}), cache);
  EXPECT_THAT(error_message<ArgumentError>(
                  [&] { model->forward(torch::zeros({1, 3, config.hidden_size}), cache); }),
              ::testing::HasSubstr("capacity 8"));
  EXPECT_EQ(cache.length(), 6);  // untouched by the failed call
  const int64_t too_long = config.max_position_embeddings + 1;
  EXPECT_THAT(error_message<ArgumentError>(
                  [&] { model->forward_train(torch::zeros({1, too_long, config.hidden_size})); }),
              ::testing::HasSubstr("max_position_embeddings"));
}

TEST_F(LlamaInputErrors, BadIdsAreRejected) {
  const auto past_vocab = torch::tensor({{int64_t{1}, config.vocab_size}}, torch::kLong);
  EXPECT_THROW(model->embed(past_vocab), ArgumentError);
  EXPECT_THROW(model->embed(torch::tensor({{-1, 2}}, torch::kLong)), ArgumentError);
  EXPECT_THROW(model->embed(torch::zeros({1, 2}, torch::kFloat)), ShapeError);
  EXPECT_THROW(model->embed(torch::zeros({2}, torch::kLong)), ShapeError);
}

TEST_F(LlamaInputErrors, InvalidGenerationOptionsAreArgumentErrors) {
  KVCache cache(config, 1, 16, model->options());
  const auto prompt = torch::zeros({1, 2, config.hidden_size});
  auto expect_rejected = [&](GenerationOptions options, const std::string& field,
                             DecodeSetup setup = test::silent_setup()) {
    EXPECT_THAT(error_message<ArgumentError>([&] { generate(model, cache, prompt, options, setup); }),
                ::testing::HasSubstr(field));
    EXPECT_EQ(cache.length(), 0);
  };
  GenerationOptions options;
  options.temperature = -0.5f;
  expect_rejected(options, "temperature");
  options = {};
  options.top_k = -1;
  expect_rejected(options, "top_k");
  options = {};
  options.top_p = 0.f;
  expect_rejected(options, "top_p");
  options = {};
  options.repetition_penalty = 0.f;
  expect_rejected(options, "repetition_penalty");
  options = {};
  options.max_new_tokens = 0;
  expect_rejected(options, "max_new_tokens");
  DecodeSetup setup = test::silent_setup();
  setup.penalty_context = {config.vocab_size};
  expect_rejected({}, "penalty_context", setup);
  expect_rejected({}, "make_decoder", DecodeSetup{});
}

class LlamaWeightErrors : public ::testing::Test {
 protected:
  /// Saves the random model's parameters, optionally altered, and loads them back.
  void save_and_load(const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>&
                         alter) {
    const auto model = test::random_llama(config, 4);
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& item : model->named_parameters()) {
      tensors.emplace_back(item.key(), item.value().detach());
    }
    alter(tensors);
    const auto file = test::scratch_dir("llama-weights") / "model.safetensors";
    save_safetensors(file, tensors);
    load_llama(load_weights(file), config, torch::TensorOptions(torch::kFloat));
  }
  LlamaConfig config = test::small_llama_config();
};

TEST_F(LlamaWeightErrors, MissingKeyIsNamed) {
  const std::string key = "model.layers.1.mlp.up_proj.weight";
  const auto message = error_message<WeightError>([&] {
    save_and_load([&](auto& tensors) {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                   [&](const auto& entry) { return entry.first == key; }),
                    tensors.end());
    });
  });
  EXPECT_THAT(message, ::testing::HasSubstr(key));
}

TEST_F(LlamaWeightErrors, MisshapenKeyIsNamed) {
  const std::string key = "model.layers.0.self_attn.k_proj.weight";
  const auto message = error_message<WeightError>([&] {
    save_and_load([&](auto& tensors) {
      for (auto& [name, tensor] : tensors) {
        if (name == key) tensor = torch::zeros({config.hidden_size, config.hidden_size});
      }
    });
  });
  EXPECT_THAT(message, ::testing::HasSubstr(key));
}

TEST_F(LlamaWeightErrors, CompleteCheckpointLoads) {
  EXPECT_NO_THROW(save_and_load([](auto&) {}));
}

}  // namespace
