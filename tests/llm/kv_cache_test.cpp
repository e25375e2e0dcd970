// The KV cache and the cached forward: incremental runs (prefill after a non-empty cache,
// single-token decode) equal one full causal forward, truncate/reset/broadcast behave, and
// the buffers are never reallocated.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "llm_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama.hpp"

using namespace regionlm;
using namespace regionlm::llm;

namespace {

class CachedForward : public ::testing::Test {
 protected:
  LlamaConfig config = test::small_llama_config();
  Llama model = test::random_llama(config, 1);
  c10::InferenceMode inference;
  torch::Tensor ids = torch::randint(config.vocab_size, {1, 12},
                                     at::make_generator<at::CPUGeneratorImpl>(9));  // [1, 12]
};

TEST_F(CachedForward, IncrementalPiecesEqualOneCausalForward) {
  const auto full = model->forward_train(model->embed(ids));  // [1, 12, V]
  KVCache cache(config, 1, 16, model->options());
  std::vector<torch::Tensor> parts;
  parts.push_back(model->forward_ids(ids.narrow(1, 0, 5), cache));  // causal prefill
  // A multi-token step after a prefix: SDPA's is_causal (top-left aligned) would hide keys
  // 1..8 from its first query, so this equality checks the explicit mask.
  parts.push_back(model->forward_ids(ids.narrow(1, 5, 4), cache));
  for (int64_t i = 9; i < 12; ++i) parts.push_back(model->forward_ids(ids.narrow(1, i, 1), cache));
  EXPECT_EQ(cache.length(), 12);
  EXPECT_TRUE(torch::allclose(torch::cat(parts, 1), full, 1e-5, 1e-5));

  KVCache fresh(config, 1, 16, model->options());
  const auto last_only = model->forward_ids(ids.narrow(1, 0, 3), fresh, /*last_only=*/true);
  EXPECT_EQ(last_only.sizes(), (std::vector<int64_t>{1, 1, config.vocab_size}));
  EXPECT_TRUE(torch::allclose(last_only[0][0], full[0][2], 1e-5, 1e-5));
}

TEST_F(CachedForward, TruncateAndResetReplayTheSameLogits) {
  KVCache cache(config, 1, 16, model->options());
  const auto first = model->forward_ids(ids.narrow(1, 0, 8), cache);  // [1, 8, V]
  cache.truncate(5);
  EXPECT_EQ(cache.length(), 5);
  const auto replay = model->forward_ids(ids.narrow(1, 5, 3), cache);
  EXPECT_TRUE(torch::allclose(replay, first.narrow(1, 5, 3), 1e-5, 1e-5));
  cache.reset();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_TRUE(torch::allclose(model->forward_ids(ids.narrow(1, 0, 8), cache), first, 1e-5, 1e-5));
  EXPECT_THROW(cache.truncate(9), ArgumentError);
  EXPECT_THROW(cache.truncate(-1), ArgumentError);
}

TEST_F(CachedForward, BroadcastPrefixServesABatchOfContinuations) {
  KVCache prefix(config, 1, 16, model->options());
  model->forward_ids(ids.narrow(1, 0, 6), prefix);
  KVCache batch(config, 3, 16, model->options());
  batch.broadcast_prefix_from(prefix, 0, 6);
  EXPECT_EQ(batch.length(), 6);
  const auto tails = torch::tensor({{3, 4}, {5, 6}, {7, 8}}, torch::kLong);  // [3, 2]
  const auto batched = model->forward_ids(tails, batch);                      // [3, 2, V]
  for (int64_t r = 0; r < 3; ++r) {
    KVCache single(config, 1, 16, model->options());
    model->forward_ids(ids.narrow(1, 0, 6), single);
    const auto expected = model->forward_ids(tails.narrow(0, r, 1), single);  // [1, 2, V]
    EXPECT_TRUE(torch::allclose(batched.narrow(0, r, 1), expected, 1e-5, 1e-5)) << "row " << r;
  }
  EXPECT_THROW(batch.broadcast_prefix_from(prefix, 1, 6), ArgumentError);
  EXPECT_THROW(batch.broadcast_prefix_from(prefix, 0, 7), ArgumentError);
  KVCache other_dtype(config, 3, 16, torch::TensorOptions(torch::kBFloat16));
  EXPECT_THROW(other_dtype.broadcast_prefix_from(prefix, 0, 6), ShapeError);
}

// Rows that continue one shared prefix (stored once, attended through the log-sum-exp merge)
// give what each row gets with the prefix copied into its own cache: a multi-token prefill
// after the prefix (explicit mask), then single-token steps.
TEST_F(CachedForward, SharedPrefixEqualsACopiedPrefixForEveryRow) {
  auto prefix = std::make_shared<KVCache>(config, 1, 6, model->options());
  model->forward_ids(ids.narrow(1, 0, 6), *prefix);
  KVCache rows(config, 3, 16, model->options(), prefix);
  EXPECT_EQ(rows.length(), 6);
  EXPECT_EQ(rows.prefix_length(), 6);
  EXPECT_EQ(rows.remaining(), 10);
  // Only the rows' own positions are allocated.
  EXPECT_EQ(rows.keys(0).sizes(), (std::vector<int64_t>{3, config.num_key_value_heads, 10, config.head_dim()}));
  const auto tails = torch::tensor({{3, 4, 9}, {5, 6, 1}, {7, 8, 2}}, torch::kLong);  // [3, 3]
  const auto next = torch::tensor({{10}, {11}, {12}}, torch::kLong);                  // [3, 1]
  std::vector<torch::Tensor> shared;
  shared.push_back(model->forward_ids(tails, rows));  // [3, 3, V]
  shared.push_back(model->forward_ids(next, rows));   // [3, 1, V]
  shared.push_back(model->forward_ids(next + 1, rows));
  const auto batched = torch::cat(shared, 1);         // [3, 5, V]
  EXPECT_EQ(rows.length(), 11);

  KVCache copied(config, 3, 16, model->options());
  copied.broadcast_prefix_from(*prefix, 0, 6);
  std::vector<torch::Tensor> expected;
  expected.push_back(model->forward_ids(tails, copied));
  expected.push_back(model->forward_ids(next, copied));
  expected.push_back(model->forward_ids(next + 1, copied));
  const double diff = (batched - torch::cat(expected, 1)).abs().max().item<double>();
  EXPECT_LT(diff, 1e-5);

  // Truncating and resetting stop at the prefix; the prefix itself is untouched.
  rows.truncate(8);
  EXPECT_TRUE(torch::allclose(model->forward_ids(torch::tensor({{9}, {1}, {2}}, torch::kLong), rows),
                              shared[0].narrow(1, 2, 1), 1e-5, 1e-5));
  EXPECT_THROW(rows.truncate(5), ArgumentError);
  rows.reset();
  EXPECT_EQ(rows.length(), 6);
  EXPECT_EQ(prefix->length(), 6);
}

// The same in bfloat16: the merge keeps float32 softmax statistics, so the two paths differ
// only by bfloat16 rounding of the attention output.
TEST(SharedPrefix, Bfloat16StaysWithinBfloat16Rounding) {
  c10::InferenceMode inference;
  const auto config = test::small_llama_config();
  const Llama model = test::random_llama(config, 1, torch::kBFloat16);
  const auto ids = torch::randint(config.vocab_size, {1, 8}, at::make_generator<at::CPUGeneratorImpl>(3));
  auto prefix = std::make_shared<KVCache>(config, 1, 8, model->options());
  model->forward_ids(ids, *prefix);
  KVCache rows(config, 2, 16, model->options(), prefix);
  KVCache copied(config, 2, 16, model->options());
  copied.broadcast_prefix_from(*prefix, 0, 8);
  const auto tails = torch::tensor({{3, 4}, {5, 6}}, torch::kLong);
  const auto shared = model->forward_ids(tails, rows);    // [2, 2, V] float32 logits
  const auto expected = model->forward_ids(tails, copied);
  const double scale = expected.abs().max().item<double>();
  EXPECT_LT((shared - expected).abs().max().item<double>(), 0.05 * scale);
}

// A prefix that itself continues a prefix (an image's, then the question text every row of a
// describe_each shares): rows read both levels and get what one plain cache per row gets, in
// the prefill after the chain (explicit mask), in decode steps, and through forward_rows.
TEST_F(CachedForward, ChainedPrefixesEqualOnePlainCachePerRow) {
  auto image = std::make_shared<KVCache>(config, 1, 5, model->options());
  model->forward_ids(ids.narrow(1, 0, 5), *image);
  auto question = std::make_shared<KVCache>(config, 1, 8, model->options(), image);
  model->forward_ids(ids.narrow(1, 5, 3), *question);
  EXPECT_EQ(question->length(), 8);
  EXPECT_EQ(question->keys(0).size(2), 3);  // only its own positions are stored there
  KVCache rows(config, 2, 16, model->options(), question);
  EXPECT_EQ(rows.prefix_length(), 8);
  const auto tails = torch::tensor({{3, 4, 9}, {5, 6, 1}}, torch::kLong);  // [2, 3]
  const auto next = torch::tensor({{10}, {11}}, torch::kLong);             // [2, 1]
  const auto batched = torch::cat({model->forward_ids(tails, rows), model->forward_ids(next, rows)}, 1);  // [2, 4, V]
  for (int64_t r = 0; r < 2; ++r) {
    KVCache plain(config, 1, 16, model->options());
    model->forward_ids(ids.narrow(1, 0, 8), plain);
    const auto expected = torch::cat({model->forward_ids(tails.narrow(0, r, 1), plain),
                                      model->forward_ids(next.narrow(0, r, 1), plain)}, 1);  // [1, 4, V]
    EXPECT_LT((batched.narrow(0, r, 1) - expected).abs().max().item<double>(), 1e-5) << "row " << r;
  }
  // One step of rows with their own caches, some on the chain and one on the image's prefix.
  std::vector<std::unique_ptr<KVCache>> own;
  std::vector<KVCache*> row_caches;
  for (const auto& base : {question, image, question}) {
    own.push_back(std::make_unique<KVCache>(config, 1, 16, model->options(), base));
    row_caches.push_back(own.back().get());
  }
  const auto step = model->forward_rows(model->embed(torch::tensor({{7}, {2}, {4}}, torch::kLong)), row_caches);  // [3, 1, V]
  for (int64_t r = 0; r < 3; ++r) {
    const int64_t seen = r == 1 ? 5 : 8;
    KVCache plain(config, 1, 16, model->options());
    model->forward_ids(ids.narrow(1, 0, seen), plain);
    const int64_t token = std::vector<int64_t>{7, 2, 4}[static_cast<size_t>(r)];
    const auto expected = model->forward_ids(torch::tensor({{token}}, torch::kLong), plain);
    EXPECT_LT((step.narrow(0, r, 1) - expected).abs().max().item<double>(), 1e-5) << "row " << r;
  }
}

TEST_F(CachedForward, SharedPrefixIsChecked) {
  auto prefix = std::make_shared<KVCache>(config, 1, 6, model->options());
  model->forward_ids(ids.narrow(1, 0, 6), *prefix);
  EXPECT_THROW(KVCache(config, 2, 16, model->options(), nullptr), ArgumentError);
  EXPECT_THROW(KVCache(config, 2, 6, model->options(), prefix), ArgumentError);  // no room after it
  auto two_rows = std::make_shared<KVCache>(config, 2, 6, model->options());
  EXPECT_THROW(KVCache(config, 2, 16, model->options(), two_rows), ArgumentError);
  EXPECT_THROW(KVCache(config, 2, 16, torch::TensorOptions(torch::kBFloat16), prefix), ShapeError);
  // Copying between caches needs the same shared prefix.
  KVCache plain(config, 2, 16, model->options());
  KVCache continued(config, 2, 16, model->options(), prefix);
  EXPECT_THROW(continued.broadcast_prefix_from(plain, 0, 6), ArgumentError);
}

TEST_F(CachedForward, BuffersAreAllocatedOnceAndWrittenInPlace) {
  KVCache cache(config, 1, 16, model->options());
  const auto* keys = cache.keys(0).data_ptr();
  const auto* values = cache.values(1).data_ptr();
  EXPECT_EQ(cache.keys(0).sizes(),
            (std::vector<int64_t>{1, config.num_key_value_heads, 16, config.head_dim()}));
  for (int64_t i = 0; i < 10; ++i) model->forward_ids(ids.narrow(1, i, 1), cache);
  EXPECT_EQ(cache.keys(0).data_ptr(), keys);
  EXPECT_EQ(cache.values(1).data_ptr(), values);
  EXPECT_EQ(cache.remaining(), 6);
}

TEST(KVCacheArguments, RejectsBadSizes) {
  const auto config = test::small_llama_config();
  const auto options = torch::TensorOptions(torch::kFloat);
  EXPECT_THROW(KVCache(config, 0, 8, options), ArgumentError);
  EXPECT_THROW(KVCache(config, 1, 0, options), ArgumentError);
  EXPECT_THROW(KVCache(config, 1, config.max_position_embeddings + 1, options), ArgumentError);
  KVCache cache(config, 2, 8, options);
  EXPECT_EQ(cache.batch(), 2);
  EXPECT_EQ(cache.capacity(), 8);
  EXPECT_EQ(cache.num_layers(), config.num_hidden_layers);
  EXPECT_THROW(cache.advance(9), ArgumentError);
}

}  // namespace
