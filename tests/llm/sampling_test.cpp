// Sampling: on fixed logits, many seeded draws follow the exact temperature / top-k / top-p /
// repetition-penalty distribution (chi-square test, with a check that plausible mistakes
// would be caught by the same bound), greedy choice, and seed determinism.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "regionlm/llm/sampler.hpp"

using namespace regionlm::llm;
using regionlm::GenerationOptions;

namespace {

const std::vector<double> kLogits = {2.0, 1.5, 1.2, 0.8, 0.3, -0.2, -1.0, -2.0};
constexpr int64_t kDraws = 40000;

/// The distribution the options define, computed directly in double: penalty on `seen`,
/// temperature, keep the k best, then the most likely tokens until their mass reaches top_p,
/// renormalised.
std::vector<double> exact_distribution(const GenerationOptions& options,
                                       const std::set<int64_t>& seen) {
  const size_t vocab = kLogits.size();
  std::vector<double> scores(vocab);
  for (size_t i = 0; i < vocab; ++i) {
    double s = kLogits[i];
    if (seen.count(static_cast<int64_t>(i))) {
      s = s < 0 ? s * options.repetition_penalty : s / options.repetition_penalty;
    }
    scores[i] = s / options.temperature;
  }
  std::vector<size_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  size_t kept = options.top_k > 0 ? std::min<size_t>(options.top_k, vocab) : vocab;
  std::vector<double> probs(vocab, 0.0);
  double total = 0;
  for (size_t r = 0; r < kept; ++r) total += std::exp(scores[order[r]]);
  double mass_before = 0;
  size_t nucleus = 0;
  while (nucleus < kept && (nucleus == 0 || mass_before < options.top_p)) {
    mass_before += std::exp(scores[order[nucleus]]) / total;
    ++nucleus;
  }
  double nucleus_total = 0;
  for (size_t r = 0; r < nucleus; ++r) nucleus_total += std::exp(scores[order[r]]);
  for (size_t r = 0; r < nucleus; ++r) probs[order[r]] = std::exp(scores[order[r]]) / nucleus_total;
  return probs;
}

std::vector<int64_t> draw_counts(const GenerationOptions& options, const std::set<int64_t>& seen) {
  const auto vocab = static_cast<int64_t>(kLogits.size());
  Sampler sampler(options, kDraws, vocab, torch::kCPU);
  if (!seen.empty()) {
    const std::vector<int64_t> ids(seen.begin(), seen.end());
    sampler.observe(torch::tensor(ids).unsqueeze(0).expand({kDraws, -1}));
  }
  const auto logits = torch::tensor(kLogits, torch::kFloat).unsqueeze(0).expand({kDraws, -1});
  const auto draws = sampler.next(logits);  // [N]
  const auto counts = torch::bincount(draws, {}, vocab).contiguous();
  return {counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + vocab};
}

/// Pearson chi-square of the counts against `probs`; infinite when a token of probability
/// zero was drawn.
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  double stat = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double expected = probs[i] * kDraws;
    if (expected == 0) {
      if (counts[i] > 0) return INFINITY;
      continue;
    }
    stat += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return stat;
}

/// Upper chi-square quantile at z = 4.5 (false alarm ~3e-6), Wilson-Hilferty approximation.
double critical_value(const std::vector<double>& probs) {
  const double df = std::count_if(probs.begin(), probs.end(), [](double p) { return p > 0; }) - 1;
  if (df < 1) return 0.5;  // a single possible token: every draw must be it
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + 4.5 * std::sqrt(a), 3.0);
}

struct Case {
  const char* name;
  GenerationOptions options;
  std::set<int64_t> seen;
  GenerationOptions mistake;  // a plausible wrong implementation the test must reject
};

GenerationOptions make(float temperature, int64_t top_k, float top_p, float penalty) {
  GenerationOptions options;
  options.temperature = temperature;
  options.top_k = top_k;
  options.top_p = top_p;
  options.repetition_penalty = penalty;
  return options;
}

TEST(SamplerDistribution, DrawsFollowTheExactDistribution) {
  const std::vector<Case> cases = {
      {"temperature", make(0.6f, 0, 1.f, 1.f), {}, make(1.f, 0, 1.f, 1.f)},
      {"top_k", make(1.f, 3, 1.f, 1.f), {}, make(1.f, 4, 1.f, 1.f)},
      {"top_p", make(1.2f, 0, 0.75f, 1.f), {}, make(1.2f, 0, 0.9f, 1.f)},
      {"top_p after temperature", make(0.5f, 0, 0.8f, 1.f), {}, make(1.f, 0, 0.8f, 1.f)},
      {"all", make(0.8f, 5, 0.8f, 1.5f), {0, 3, 6}, make(0.8f, 5, 0.8f, 1.f)},
      {"single survivor", make(1.f, 0, 0.1f, 1.f), {}, make(1.f, 0, 0.5f, 1.f)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto probs = exact_distribution(c.options, c.seen);
    const auto wrong = exact_distribution(c.mistake, c.seen);
    const auto counts = draw_counts(c.options, c.seen);
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), int64_t{0}), kDraws);
    const double stat = chi_square(counts, probs);
    EXPECT_LT(stat, critical_value(probs));
    EXPECT_GT(chi_square(counts, wrong), critical_value(wrong))
        << "the test would not notice the mistaken distribution";
  }
}

TEST(SamplerDistribution, GreedyTakesArgmaxAfterRepetitionPenalty) {
  const auto logits = torch::tensor({{2.0f, 1.9f, -0.5f}, {-1.0f, -1.1f, -3.0f}});  // [2, 3]
  Sampler plain(make(0.f, 0, 1.f, 1.f), 2, 3, torch::kCPU);
  EXPECT_FALSE(plain.sampling());
  EXPECT_TRUE(torch::equal(plain.next(logits), torch::tensor({0, 0}, torch::kLong)));
  Sampler penalised(make(0.f, 0, 1.f, 1.2f), 2, 3, torch::kCPU);
  penalised.observe(torch::tensor({0, 0}, torch::kLong));
  // 2.0 / 1.2 < 1.9 and -1.0 * 1.2 < -1.1: both rows move to token 1.
  EXPECT_TRUE(torch::equal(penalised.next(logits), torch::tensor({1, 1}, torch::kLong)));
}

TEST(SamplerDistribution, SeedDeterminesTheDraws) {
  const auto logits = torch::zeros({256, 50});
  auto draws = [&](uint64_t seed) {
    auto options = make(1.f, 0, 1.f, 1.f);
    options.seed = seed;
    Sampler sampler(options, 256, 50, torch::kCPU);
    return sampler.next(logits);
  };
  EXPECT_TRUE(torch::equal(draws(5), draws(5)));
  EXPECT_FALSE(torch::equal(draws(5), draws(6)));
}

}  // namespace
