// Generation behaviour on a toy "successor" model whose greedy output is known (token i is
// followed by i + 1) and a toy piece vocabulary: stop strings across token boundaries,
// streaming without leaking partial stop strings or split UTF-8, EOS, cancellation, length
// limits, the cache afterwards, batches, seeds, and threads sharing one model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>
#include <thread>

#include "llm_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"

using namespace regionlm;
using namespace regionlm::llm;

namespace {

constexpr int64_t kVocab = 16;
constexpr int64_t kEos = 15;

// Generation from token 0 yields ids 1, 2, ..., 15 (EOS): "Hello, world! Stopé STOP here end."
const std::vector<std::string> kPieces = {
    "<s>", "He", "llo", ",", " wo", "rld", "!", " Stop", "\xC3", "\xA9", " STO", "P here",
    " end", ".", "", "</s>"};

class SuccessorGeneration : public ::testing::Test {
 protected:
  Llama model = test::successor_llama(kVocab);
  DecodeSetup setup = test::piece_setup(kPieces, kEos);

  torch::Tensor prompt(std::vector<int64_t> ids) const {
    c10::InferenceMode inference;
    const auto rows = static_cast<int64_t>(ids.size());
    return model->embed(torch::tensor(ids, torch::kLong).view({rows, 1}));  // [B, 1, V]
  }

  /// Runs generate from token 0 and records the streamed pieces.
  GenerationResult run(GenerationOptions options, std::vector<std::string>* pieces = nullptr,
                       KVCache* cache = nullptr) {
    KVCache own(model->config(), 1, 64, model->options());
    if (pieces) {
      options.on_step = [pieces](const Step& step) {
        pieces->push_back(step.piece);
        return true;
      };
    }
    return test::generate_one(model, cache ? *cache : own, prompt({0}), options, setup);
  }
};

std::string concat(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

TEST_F(SuccessorGeneration, RunsToEosAndStreamsEveryPiece) {
  std::vector<std::string> pieces;
  const auto result = run({}, &pieces);
  std::vector<int64_t> expected(15);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(result.tokens, expected);
  EXPECT_EQ(result.stop_reason, StopReason::Eos);
  EXPECT_EQ(result.text, "Hello, world! Stop\xC3\xA9 STOP here end.");
  EXPECT_EQ(concat(pieces), result.text);
  ASSERT_EQ(pieces.size(), 15u);
  EXPECT_EQ(pieces[7], "");               // lone UTF-8 lead byte: held back
  EXPECT_EQ(pieces[8], "\xC3\xA9");       // completed character
  EXPECT_EQ(result.timings.prompt_tokens, 1);
  EXPECT_EQ(result.timings.generated_tokens, 15);
  EXPECT_GT(result.timings.decode_tokens_per_second, 0.0);
  EXPECT_STREQ(to_string(result.stop_reason), "eos");
}

TEST_F(SuccessorGeneration, StopStringSpanningTokensIsCutWithoutLeaking) {
  GenerationOptions options;
  options.stop_strings = {"o, w"};  // "llo" + "," + " wo"
  std::vector<std::string> pieces;
  const auto result = run(options, &pieces);
  EXPECT_EQ(result.stop_reason, StopReason::StopString);
  EXPECT_EQ(result.text, "Hell");
  EXPECT_EQ(concat(pieces), "Hell");
  EXPECT_EQ(result.tokens, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_STREQ(to_string(result.stop_reason), "stop_string");
}

TEST_F(SuccessorGeneration, HeldBackPrefixIsReleasedWhenItStopsMatching) {
  GenerationOptions options;
  options.stop_strings = {"worlds", "end!"};
  std::vector<std::string> pieces;
  const auto result = run(options, &pieces);
  EXPECT_EQ(result.stop_reason, StopReason::Eos);
  EXPECT_EQ(result.text, "Hello, world! Stop\xC3\xA9 STOP here end.");
  ASSERT_GE(pieces.size(), 6u);
  EXPECT_EQ(pieces[0], "H");        // "e" may start "end!": held
  EXPECT_EQ(pieces[1], "ello");     // "llo" rules it out
  EXPECT_EQ(pieces[2], ",");
  EXPECT_EQ(pieces[3], " ");        // "wo" may start "worlds": held
  EXPECT_EQ(pieces[4], "");         // "world" still may
  EXPECT_EQ(pieces[5], "world!");   // "!" rules it out
  EXPECT_EQ(concat(pieces), result.text);
}

TEST_F(SuccessorGeneration, EarliestOfSeveralStopStringsWins) {
  GenerationOptions options;
  options.stop_strings = {"here", "Stop", "STOP"};
  const auto result = run(options);
  EXPECT_EQ(result.text, "Hello, world! ");
  EXPECT_EQ(result.tokens.back(), 7);
}

TEST_F(SuccessorGeneration, CallbackCancels) {
  GenerationOptions options;
  int calls = 0;
  std::string streamed;
  options.on_step = [&](const Step& step) {
    streamed += step.piece;
    return ++calls < 3;
  };
  KVCache cache(model->config(), 1, 64, model->options());
  const auto result = test::generate_one(model, cache, prompt({0}), options, setup);
  EXPECT_EQ(result.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(result.tokens, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(result.text, streamed);
  EXPECT_EQ(result.text, "Hello,");
  EXPECT_STREQ(to_string(result.stop_reason), "cancelled");
}

TEST_F(SuccessorGeneration, MaxNewTokensStopsWithLengthAndFlushesHeldText) {
  GenerationOptions options;
  options.max_new_tokens = 4;
  options.stop_strings = {"world"};
  std::vector<std::string> pieces;
  const auto result = run(options, &pieces);
  EXPECT_EQ(result.stop_reason, StopReason::Length);
  EXPECT_EQ(result.tokens.size(), 4u);
  EXPECT_EQ(result.text, "Hello, wo");  // " wo" was pending, then released by the end
  EXPECT_EQ(concat(pieces), result.text);
  EXPECT_STREQ(to_string(result.stop_reason), "length");
}

TEST_F(SuccessorGeneration, CacheHoldsPromptAndTokensSoAChatCanContinue) {
  KVCache cache(model->config(), 1, 64, model->options());
  GenerationOptions options;
  options.max_new_tokens = 3;
  auto first = run(options, nullptr, &cache);
  EXPECT_EQ(cache.length(), 1 + 3);
  setup.cache_final_token = false;
  const auto second = run(options, nullptr, &cache);
  EXPECT_EQ(cache.length(), 4 + 1 + 3 - 1);
  EXPECT_EQ(second.tokens, first.tokens);  // the successor model ignores the history
}

TEST_F(SuccessorGeneration, CapacityBoundsTheNumberOfTokens) {
  KVCache cache(model->config(), 1, 6, model->options());
  const auto result = run({}, nullptr, &cache);
  EXPECT_EQ(result.stop_reason, StopReason::Length);
  EXPECT_EQ(result.tokens.size(), 5u);  // 1 prompt position + 5 tokens fill 6
  EXPECT_EQ(cache.length(), 6);
  KVCache full(model->config(), 1, 1, model->options());
  EXPECT_THROW(generate(model, full, prompt({0, 1}).view({1, 2, kVocab}), {}, setup), ArgumentError);
}

TEST_F(SuccessorGeneration, BatchRowsFinishIndependently) {
  KVCache cache(model->config(), 3, 64, model->options());
  GenerationOptions options;
  options.max_new_tokens = 6;
  std::vector<std::string> streamed(3);
  std::vector<std::vector<int64_t>> stepped(3);
  std::vector<int> finished(3, 0);
  options.on_step = [&](const Step& step) {
    streamed[step.row] += step.piece;
    stepped[step.row].push_back(step.token);
    finished[step.row] += step.finished ? 1 : 0;
    return step.row != 0 || streamed[0].size() < 3;  // cancel row 0 once it has 3 bytes
  };
  const auto results = generate(model, cache, prompt({0, 11, 4}), options, setup);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].tokens, (std::vector<int64_t>{1, 2}));  // "He" + "llo"
  EXPECT_EQ(results[0].stop_reason, StopReason::Cancelled);
  EXPECT_EQ(results[1].tokens, (std::vector<int64_t>{12, 13, 14, 15}));
  EXPECT_EQ(results[1].stop_reason, StopReason::Eos);
  EXPECT_EQ(results[1].text, " end.");
  EXPECT_EQ(results[2].tokens, (std::vector<int64_t>{5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(results[2].stop_reason, StopReason::Length);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(streamed[r], results[r].text);
    EXPECT_EQ(stepped[r], results[r].tokens);
  }
  // Rows that ended by themselves were told so on their last step; the cancelled one was not.
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 1}));

  // The embeddings' batch must match the cache's.
  KVCache single(model->config(), 1, 64, model->options());
  EXPECT_THROW(generate(model, single, prompt({0, 1, 2}), {}, setup), ShapeError);
}

TEST(LlamaGeneration, SameSeedSameSamplesDifferentSeedDifferent) {
  const auto config = test::small_llama_config();
  const auto model = test::random_llama(config, 3);
  torch::Tensor prompt;
  {
    c10::InferenceMode inference;
    prompt = model->embed(torch::arange(5, torch::kLong).view({1, 5}));
  }
  auto sample = [&](uint64_t seed) {
    GenerationOptions options;
    options.temperature = 1.5f;
    options.max_new_tokens = 24;
    options.seed = seed;
    KVCache cache(config, 1, 32, model->options());
    return test::generate_one(model, cache, prompt, options, test::silent_setup()).tokens;
  };
  EXPECT_EQ(sample(11), sample(11));
  EXPECT_NE(sample(11), sample(12));
}

TEST(LlamaGeneration, ConcurrentThreadsEqualSequentialRuns) {
  auto config = test::small_llama_config();
  config.hidden_size = 64;
  config.num_hidden_layers = 3;
  const auto model = test::random_llama(config, 5);
  auto run = [&](int64_t task) {
    torch::Tensor prompt;
    {
      c10::InferenceMode inference;
      const auto ids = (torch::arange(6, torch::kLong) * (task + 2)) % config.vocab_size;
      prompt = model->embed(ids.view({1, 6}));  // [1, 6, H]
    }
    GenerationOptions options;
    options.max_new_tokens = 40;
    options.temperature = task % 2 == 0 ? 0.f : 1.f;
    options.top_k = 20;
    options.seed = static_cast<uint64_t>(task);
    KVCache cache(config, 1, 64, model->options());
    return test::generate_one(model, cache, prompt, options, test::silent_setup()).tokens;
  };
  constexpr int kTasks = 4;
  std::vector<std::vector<int64_t>> sequential(kTasks);
  for (int t = 0; t < kTasks; ++t) sequential[t] = run(t);
  std::vector<std::vector<int64_t>> concurrent(kTasks);
  std::vector<std::thread> threads;
  for (int t = 0; t < kTasks; ++t) {
    threads.emplace_back([&, t] { concurrent[t] = run(t); });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kTasks; ++t) EXPECT_EQ(concurrent[t], sequential[t]) << "task " << t;
  EXPECT_NE(sequential[0], sequential[2]);
}

}  // namespace
