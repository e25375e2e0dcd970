#pragma once
// What Model::describe, Model::generate and ChatSession::ask return. Includes no LibTorch
// or decoder header (tests/pipeline/CMakeLists.txt compiles a file that includes only this).
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/generation_options.hpp"

namespace regionlm {

/// A region an answer names: "region2", "<region2>" or "region 2" (GPT4RoI's answers name
/// regions so; Osprey's may), mapped back to the regions given to the call.
struct RegionMention {
  size_t offset = 0;   // byte offset of the mention in Answer::text
  size_t length = 0;   // bytes of the mention ("<region2>" includes the brackets)
  int64_t region = 0;  // 0-based index into the regions given to describe / chat (for
                       // describe_each: the row's region)
};

/// One generated answer.
struct Answer {
  std::string text;             // the answer (EOS and any stop string excluded)
  std::vector<int64_t> tokens;  // generated token ids, including a final EOS
  StopReason stop_reason = StopReason::Length;  // why generation ended
  Timings timings;              // prefill / decode wall times and token counts
  double encode_ms = 0;         // vision trunk + projector, wall ms (0 for a pre-encoded image)
  double regions_ms = 0;        // region tokens (Osprey: masks + extractor; GPT4RoI: RoIAlign + heads), wall ms
  std::vector<RegionMention> mentions;  // regions the text names, in text order; names of
                                        // regions that were not given are left out
  std::vector<std::string> notes;       // how the input was adapted to the model, e.g. "region 2
                                        // (mask 150x200) was used as its bounding box (20, 30,
                                        // 90, 110): GPT4RoI reads boxes only"; empty normally
};

}  // namespace regionlm
