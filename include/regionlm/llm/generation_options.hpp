#pragma once
// How generate() picks and stops tokens. Defaults: greedy, 512 new tokens, no stop strings.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace regionlm::llm {

struct GenerationOptions {
  int64_t max_new_tokens = 512;  // tokens to generate at most (>= 1); default 512
  float temperature = 0.f;       // softmax temperature; 0 = greedy (argmax); default 0
  int64_t top_k = 0;             // sample among the k most likely tokens; 0 = off; default 0
  float top_p = 1.f;             // nucleus: smallest set with probability >= top_p, (0, 1]; 1 = off
  float repetition_penalty = 1.f;  // > 0; seen tokens' logits divided (positive) or multiplied
                                   // (negative) by it, as transformers does; 1 = off
  uint64_t seed = 0;               // sampling seed; same seed, device and inputs -> same output
  std::vector<std::string> stop_strings;  // stop before the first occurrence of any; default none
  /// Called once per generated token with the text it releases (possibly empty: text that
  /// could still become a stop string, or an incomplete UTF-8 character, is held back until
  /// decided). The pieces concatenate to the result text. Return false to stop
  /// (StopReason::Cancelled). Default: none. generate_batch uses on_row_token instead.
  std::function<bool(const std::string& piece)> on_token;
  /// Batched form of on_token: (row, piece); false cancels that row only. Default: none.
  std::function<bool(int64_t row, const std::string& piece)> on_row_token;
  /// Token ids the repetition penalty counts besides the generated ones (transformers counts
  /// the prompt's input_ids; pass them when known). Default: none.
  std::vector<int64_t> penalty_context;
  /// Run the last generated token through the model so that the cache ends up holding the
  /// prompt and every returned token (a chat turn can continue directly). false saves that
  /// one decode step when the cache is discarded afterwards. Default true.
  bool cache_final_token = true;
};

}  // namespace regionlm::llm
