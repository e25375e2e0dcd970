#pragma once
// Loading a torch::nn::Module from a checkpoint is a name walk: every parameter and buffer
// `a.b.c` of the module is read from `prefix + "a.b.c"`. Modules are built with submodule
// names that mirror the checkpoint keys, so no translation table exists anywhere.
#include <torch/nn/module.h>

#include <set>
#include <string>
#include <vector>

#include "regionlm/io/weights.hpp"

namespace regionlm {

/// What a load found; `missing` and `mismatched` make `load_module` throw.
struct LoadReport {
  std::vector<std::string> loaded;      // checkpoint keys consumed
  std::vector<std::string> missing;     // expected keys absent from the checkpoint
  std::vector<std::string> mismatched;  // "key: expected [a, b], found [c, d]"
};

/// Fills every parameter and buffer of `module` from `weights` (key = prefix + name),
/// converting each to the device and dtype the module's tensor already has. Parameters are
/// re-pointed at the converted data (`set_data`), so a module built with uninitialised
/// (`torch::empty`) tensors costs no extra copy. Names listed in `optional` (module-relative)
/// may be absent and keep their current value.
/// Throws WeightError listing *all* missing and misshapen keys, naming the checkpoint.
LoadReport load_module(torch::nn::Module& module, const Weights& weights,
                       const std::string& prefix,
                       const std::set<std::string>& optional = {});

/// Checkpoint keys absent from `consumed` (the union of the `loaded` lists of every
/// `load_module` call), sorted; for reporting, not fatal.
std::vector<std::string> unexpected_keys(const Weights& weights,
                                         const std::vector<std::string>& consumed);

}  // namespace regionlm
