#pragma once
// What a model's region branch makes of a set of regions: the decoder inputs that the
// `<region>` placeholders of a prompt stand for.
#include <torch/types.h>

#include <string>
#include <vector>

namespace regionlm {

/// The region tokens of Q regions, in region order. Made by Model::encode_regions (or
/// Osprey::region_tokens); consumed by Model::embed. Two forms:
///  - Osprey: one mask token and one position token per region (a Region chunk of a layout
///    is 2 positions);
///  - GPT4RoI: one token per region, its box feature (`pos_tokens` undefined; a Region chunk
///    is 1 position, the `<bbox>` token).
struct RegionTokens {
  torch::Tensor mask_tokens;  // [Q, hidden], model dtype and device: Osprey's mask tokens, or
                              // GPT4RoI's box features
  torch::Tensor pos_tokens;   // [Q, hidden], model dtype and device; undefined in the
                              // one-token-per-region form
  double ms = 0;              // wall time of the region branch, ms (0 when not measured)
  std::vector<std::string> notes{};  // how regions were adapted (GPT4RoI: a mask used as its
                                   // bounding box); copied into every Answer made with them

  /// Number of regions (Q).
  int64_t size() const { return mask_tokens.defined() ? mask_tokens.size(0) : 0; }
  /// Decoder positions each region fills: 2 (Osprey), 1 (GPT4RoI).
  int64_t tokens_per_region() const { return pos_tokens.defined() ? 2 : 1; }
};

}  // namespace regionlm
