#include "regionlm/llm/sampler.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include <limits>

#include "regionlm/error.hpp"

namespace regionlm::llm {
namespace {

at::Generator seeded_generator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  auto generator = at::globalContext()
                       .getAcceleratorHooksInterface(device.type())
                       .getNewGenerator(device.index());
  generator.set_current_seed(seed);
  return generator;
}

}  // namespace

Sampler::Sampler(const GenerationOptions& options, int64_t batch, int64_t vocab_size,
                 const torch::Device& device)
    : temperature_(options.temperature),
      top_k_(options.top_k),
      top_p_(options.top_p),
      repetition_penalty_(options.repetition_penalty) {
  if (!(temperature_ >= 0.f)) {
    throw ArgumentError("GenerationOptions.temperature must be >= 0 (0 = greedy), got " +
                        std::to_string(temperature_));
  }
  if (top_k_ < 0) {
    throw ArgumentError("GenerationOptions.top_k must be >= 0 (0 = off), got " +
                        std::to_string(top_k_));
  }
  if (!(top_p_ > 0.f && top_p_ <= 1.f)) {
    throw ArgumentError("GenerationOptions.top_p must be in (0, 1], got " + std::to_string(top_p_));
  }
  if (!(repetition_penalty_ > 0.f)) {
    throw ArgumentError("GenerationOptions.repetition_penalty must be > 0, got " +
                        std::to_string(repetition_penalty_));
  }
  if (batch < 1 || vocab_size < 1) {
    throw ArgumentError("Sampler: batch and vocab_size must be >= 1");
  }
  if (repetition_penalty_ != 1.f) {
    seen_ = torch::zeros({batch, vocab_size}, torch::TensorOptions(torch::kBool).device(device));
  }
  if (sampling()) generator_ = seeded_generator(device, options.seed);
}

void Sampler::observe(const torch::Tensor& ids) {
  if (!seen_.defined()) return;
  const auto rows = ids.to(seen_.device(), torch::kLong).reshape({seen_.size(0), -1});  // [B, N]
  seen_.scatter_(1, rows, true);
}

torch::Tensor Sampler::process(const torch::Tensor& logits) const {
  constexpr float kRemoved = -std::numeric_limits<float>::infinity();
  auto scores = logits.to(torch::kFloat);  // [B, V]
  if (seen_.defined()) {
    const auto penalized =
        torch::where(scores < 0, scores * repetition_penalty_, scores / repetition_penalty_);
    scores = torch::where(seen_, penalized, scores);  // [B, V]
  }
  if (!sampling()) return scores;
  if (temperature_ != 1.f) scores = scores / temperature_;
  const int64_t vocab = scores.size(-1);
  if (top_k_ > 0 && top_k_ < vocab) {
    // Ties with the k-th score survive, as in transformers.
    const auto kth = std::get<0>(scores.topk(top_k_, -1)).narrow(-1, top_k_ - 1, 1);  // [B, 1]
    scores = scores.masked_fill(scores < kth, kRemoved);
  }
  if (top_p_ < 1.f) {
    // Drop the least likely tokens whose cumulative probability stays <= 1 - top_p; the most
    // likely token always survives.
    const auto [sorted, order] = scores.sort(-1, /*descending=*/false);  // [B, V] each
    auto remove_sorted = sorted.softmax(-1).cumsum(-1) <= (1.0 - top_p_);  // [B, V]
    remove_sorted.narrow(-1, vocab - 1, 1).fill_(false);
    const auto remove = remove_sorted.scatter(-1, order, remove_sorted);  // [B, V]
    scores = scores.masked_fill(remove, kRemoved);
  }
  return scores;
}

torch::Tensor Sampler::next(const torch::Tensor& logits) {
  const auto scores = process(logits);  // [B, V]
  torch::Tensor chosen;
  if (sampling()) {
    chosen = torch::multinomial(scores.softmax(-1), 1, /*replacement=*/false, generator_)
                 .squeeze(1);  // [B]
  } else {
    chosen = scores.argmax(-1);  // [B]
  }
  observe(chosen);
  return chosen;
}

}  // namespace regionlm::llm
