#pragma once
// What a caller sets for generation, and what it is told while and after generating.
// Defaults: greedy, 512 new tokens, no stop strings. Light on purpose: no LibTorch headers.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace regionlm {

/// Why an answer ended.
enum class StopReason {
  Eos,         // the EOS token was generated (it is the last of `tokens`, not in `text`)
  StopString,  // a stop string appeared (`text` ends before it; `tokens` include it)
  Length,      // max_new_tokens reached, or the context ran out
  Cancelled,   // the on_step callback returned false
};
/// "eos", "stop_string", "length", "cancelled".
const char* to_string(StopReason reason);

/// One generated token, as GenerationOptions::on_step sees it.
struct Step {
  int64_t row = 0;       // which answer: 0 for describe and chat, the region's index for describe_each
  int64_t token = 0;     // the token id just generated
  std::string piece;     // the text it releases (may be empty: a possible stop string or an
                         // incomplete UTF-8 character is held back until decided)
  bool finished = false;  // true on the row's last step (EOS, stop string or length)
};

struct GenerationOptions {
  int64_t max_new_tokens = 512;    // tokens to generate at most (>= 1); default 512
  float temperature = 0.f;         // softmax temperature; 0 = greedy (argmax); default 0
  int64_t top_k = 0;               // sample among the k most likely tokens; 0 = off; default 0
  float top_p = 1.f;               // nucleus: smallest set with probability >= top_p, (0, 1]; 1 = off
  float repetition_penalty = 1.f;  // > 0; seen tokens' logits (prompt text and generated) divided
                                   // (positive) or multiplied (negative) by it, as transformers; 1 = off
  uint64_t seed = 0;               // sampling seed; same seed, device and inputs -> same output
  std::vector<std::string> stop_strings;  // stop before the first occurrence of any; default none
  /// Called once per generated token of every row, on the generating thread; the pieces of a
  /// row concatenate to its answer text. Return false to stop that row (StopReason::Cancelled;
  /// the other rows go on). Default: none.
  std::function<bool(const Step& step)> on_step;
};

/// Wall times and counts of one generation.
struct Timings {
  double prefill_ms = 0;                // prompt forward + first token choice, wall ms
  double decode_ms = 0;                 // all later forwards and token choices, wall ms
  int64_t prompt_tokens = 0;            // positions prefilled
  int64_t generated_tokens = 0;         // tokens returned
  double decode_tokens_per_second = 0;  // decode forwards / decode seconds (0 if none)
};

}  // namespace regionlm
