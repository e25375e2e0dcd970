// Continuous batching (llm::Batcher) and the per-row decode step under it
// (Llama::forward_rows): rows at different lengths, with and without a shared prefix, give the
// logits of each row's own forward; many threads calling generate() at once get exactly the
// tokens of sequential calls while sharing decode steps; errors reach only their caller.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <thread>

#include "llm_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/batcher.hpp"

using namespace regionlm;
using namespace regionlm::llm;

namespace {

constexpr int64_t kCapacity = 48;  // small_llama_config: max_position_embeddings 64

torch::Tensor random_embeds(const Llama& model, int64_t steps, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({1, steps, model->config().hidden_size}, gen, model->options());  // [1, T, H]
}

// Row r of forward_rows equals a batch-1 forward of that row's cache, whatever each row's
// length and whether it continues a shared prefix (some rows share one, one row has another,
// one has none).
TEST(ForwardRows, EachRowEqualsItsOwnForward) {
  c10::InferenceMode inference;
  const LlamaConfig config = test::small_llama_config();
  const Llama model = test::random_llama(config, 3);
  auto prefix_a = std::make_shared<KVCache>(config, 1, 20, model->options());
  auto prefix_b = std::make_shared<KVCache>(config, 1, 11, model->options());
  model->forward(random_embeds(model, 20, 1), *prefix_a);
  model->forward(random_embeds(model, 11, 2), *prefix_b);
  const std::vector<std::pair<std::shared_ptr<const KVCache>, int64_t>> rows = {
      {prefix_a, 3}, {nullptr, 7}, {prefix_a, 9}, {prefix_b, 1}, {prefix_a, 1}};  // (prefix, own positions)
  std::vector<std::unique_ptr<KVCache>> batched, alone;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& [prefix, own] = rows[r];
    for (auto* list : {&batched, &alone}) {
      list->push_back(prefix ? std::make_unique<KVCache>(config, 1, kCapacity, model->options(), prefix)
                             : std::make_unique<KVCache>(config, 1, kCapacity, model->options()));
      model->forward(random_embeds(model, own, 10 + r), *list->back());
    }
  }
  const auto step = random_embeds(model, static_cast<int64_t>(rows.size()), 99).view({-1, 1, config.hidden_size});
  std::vector<KVCache*> pointers;
  for (auto& c : batched) pointers.push_back(c.get());
  const auto logits = model->forward_rows(step, pointers);  // [B, 1, V]
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{static_cast<int64_t>(rows.size()), 1, config.vocab_size}));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t before = alone[r]->length();
    const auto own = model->forward(step.narrow(0, static_cast<int64_t>(r), 1), *alone[r]);  // [1, 1, V]
    EXPECT_TRUE(torch::allclose(logits.narrow(0, static_cast<int64_t>(r), 1), own, 1e-5, 1e-5)) << "row " << r;
    EXPECT_EQ(batched[r]->length(), before + 1);
    // The row's cache got the same keys as its own forward wrote.
    const auto [k_batched, v_batched] = batched[r]->stored(1);
    const auto [k_alone, v_alone] = alone[r]->stored(1);
    EXPECT_TRUE(torch::allclose(k_batched, k_alone, 1e-5, 1e-5)) << "row " << r;
  }
}

TEST(ForwardRows, RejectsBadRowsBeforeTouchingAnyCache) {
  c10::InferenceMode inference;
  const LlamaConfig config = test::small_llama_config();
  const Llama model = test::random_llama(config, 3);
  KVCache a(config, 1, 4, model->options()), full(config, 1, 2, model->options()), wide(config, 2, 8, model->options());
  model->forward(random_embeds(model, 2, 1), full);
  const auto two = random_embeds(model, 2, 5).view({2, 1, config.hidden_size});
  EXPECT_THROW(model->forward_rows(two, {&a}), ShapeError);           // 2 rows, 1 cache
  EXPECT_THROW(model->forward_rows(two, {&a, &full}), ArgumentError);  // no room
  EXPECT_THROW(model->forward_rows(two, {&a, &a}), ArgumentError);     // one cache twice
  EXPECT_THROW(model->forward_rows(two.narrow(0, 0, 1), {&wide}), ShapeError);  // batch-2 cache
  EXPECT_EQ(a.length(), 0);
}

class BatcherTest : public ::testing::Test {
 protected:
  LlamaConfig config = test::small_llama_config();
  Llama model = test::random_llama(config, 7, torch::kFloat, 0.5);
  DecodeSetup setup = test::silent_setup(/*eos=*/5);

  /// Request i: its own prompt length, token limit and (for odd i) a shared prefix.
  struct Job {
    torch::Tensor prompt;
    int64_t max_new_tokens;
    bool use_prefix;
  };
  std::vector<Job> jobs(int count) const {
    std::vector<Job> out;
    for (int i = 0; i < count; ++i) out.push_back({random_embeds(model, 2 + i % 5, 100 + i), 6 + 3 * (i % 4), i % 2 == 1});
    return out;
  }
  /// Request i's choice rule: plain greedy (rows that share one argmax), greedy with a
  /// repetition penalty, or sampling with its own seed, so one step mixes all three.
  static GenerationOptions options_for(size_t i, int64_t max_new_tokens) {
    GenerationOptions options;
    options.max_new_tokens = max_new_tokens;
    if (i % 3 == 1) options.repetition_penalty = 1.3f;
    if (i % 3 == 2) {
      options.temperature = 0.8f;
      options.top_k = 20;
      options.seed = 1000 + i;
    }
    return options;
  }
  std::shared_ptr<const KVCache> make_prefix() const {
    c10::InferenceMode inference;
    auto prefix = std::make_shared<KVCache>(config, 1, 12, model->options());
    model->forward(random_embeds(model, 12, 42), *prefix);
    return prefix;
  }
  std::unique_ptr<KVCache> cache_for(const Job& job, const std::shared_ptr<const KVCache>& prefix) const {
    return job.use_prefix ? std::make_unique<KVCache>(config, 1, kCapacity, model->options(), prefix)
                          : std::make_unique<KVCache>(config, 1, kCapacity, model->options());
  }
};

// 12 threads at once through one Batcher, greedy, penalised and sampled rows mixed: every
// row's tokens and final cache length equal a sequential llm::generate, and the rows really
// shared decode steps.
TEST_F(BatcherTest, ConcurrentCallsGiveTheSequentialTokensInSharedSteps) {
  const auto all = jobs(12);
  const auto prefix = make_prefix();
  std::vector<GenerationResult> expected;
  std::vector<int64_t> expected_length;
  for (const Job& job : all) {
    auto cache = cache_for(job, prefix);
    const GenerationOptions options = options_for(expected.size(), job.max_new_tokens);
    DecodeSetup chat = setup;
    chat.cache_final_token = job.use_prefix;  // chat turns feed their last token too
    expected.push_back(test::generate_one(model, *cache, job.prompt, options, chat));
    expected_length.push_back(cache->length());
  }
  const Batcher batcher(model, BatcherOptions{8});
  std::vector<GenerationResult> got(all.size());
  std::vector<int64_t> got_length(all.size());
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < all.size(); ++i) {
    threads.emplace_back([&, i] {
      auto cache = cache_for(all[i], prefix);
      const GenerationOptions options = options_for(i, all[i].max_new_tokens);
      DecodeSetup chat = setup;
      chat.cache_final_token = all[i].use_prefix;
      ++ready;
      while (ready < static_cast<int>(all.size())) std::this_thread::yield();
      got[i] = batcher.generate(*cache, all[i].prompt, options, chat);
      got_length[i] = cache->length();
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i].tokens, expected[i].tokens) << "request " << i;
    EXPECT_EQ(got[i].stop_reason, expected[i].stop_reason) << "request " << i;
    EXPECT_EQ(got_length[i], expected_length[i]) << "request " << i;
    EXPECT_EQ(got[i].timings.generated_tokens, static_cast<int64_t>(got[i].tokens.size()));
  }
  const BatcherStats stats = batcher.stats();
  EXPECT_EQ(stats.requests, static_cast<int64_t>(all.size()));
  EXPECT_LE(stats.largest_step, 8);  // max_rows
  EXPECT_GT(stats.row_steps, stats.steps) << "no decode step held more than one row";
  EXPECT_EQ(batcher.load(), 0);
}

// A caller whose on_step cancels, one whose on_step throws, and one with bad inputs: each
// gets its own outcome; the rows beside them are unaffected.
TEST_F(BatcherTest, CancellationAndErrorsStayWithTheirCaller) {
  const Batcher batcher(model, BatcherOptions{4});
  const auto prompt = random_embeds(model, 3, 1);
  GenerationOptions plain;
  plain.max_new_tokens = 10;
  KVCache reference_cache(config, 1, kCapacity, model->options());
  const auto expected = test::generate_one(model, reference_cache, prompt, plain, setup);

  std::vector<std::thread> threads;
  GenerationResult normal, cancelled;
  bool threw = false, bad = false;
  threads.emplace_back([&] {
    KVCache cache(config, 1, kCapacity, model->options());
    normal = batcher.generate(cache, prompt, plain, setup);
  });
  threads.emplace_back([&] {
    KVCache cache(config, 1, kCapacity, model->options());
    GenerationOptions options = plain;
    options.on_step = [](const Step& step) { return step.token < 0; };  // stop at the first token
    cancelled = batcher.generate(cache, prompt, options, setup);
  });
  threads.emplace_back([&] {
    KVCache cache(config, 1, kCapacity, model->options());
    GenerationOptions options = plain;
    int calls = 0;
    options.on_step = [&calls](const Step&) -> bool {
      if (++calls == 2) throw std::runtime_error("caller's callback failed");
      return true;
    };
    try {
      batcher.generate(cache, prompt, options, setup);
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "caller's callback failed";
    }
  });
  threads.emplace_back([&] {
    KVCache cache(config, 1, kCapacity, model->options());
    GenerationOptions options = plain;
    options.max_new_tokens = 0;
    try {
      batcher.generate(cache, prompt, options, setup);
    } catch (const ArgumentError&) {
      bad = true;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(normal.tokens, expected.tokens);
  EXPECT_EQ(cancelled.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(cancelled.tokens.size(), 1u);
  EXPECT_TRUE(threw);
  EXPECT_TRUE(bad);
}

TEST(BatcherOptionsTest, RejectsZeroRows) {
  const LlamaConfig config = test::small_llama_config();
  EXPECT_THROW(Batcher(test::random_llama(config, 1), BatcherOptions{0}), ArgumentError);
}

}  // namespace
