#include "regionlm/io/module_loader.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "regionlm/error.hpp"
#include "shape_text.hpp"

namespace regionlm {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += "\n  " + item;
  return out;
}

}  // namespace

LoadReport load_module(torch::nn::Module& module, const Weights& weights,
                       const std::string& prefix, const std::set<std::string>& optional) {
  torch::NoGradGuard no_grad;
  LoadReport report;
  auto visit = [&](const std::string& name, torch::Tensor& target) {
    const std::string key = prefix + name;
    if (!weights.contains(key)) {
      if (!optional.count(name)) report.missing.push_back(key);
      return;
    }
    const std::vector<int64_t> stored = weights.shape(key);
    if (c10::IntArrayRef(stored) != target.sizes()) {
      report.mismatched.push_back(key + ": expected " + shape_text(target.sizes()) + ", found " +
                                  shape_text(stored));
      return;
    }
    // contiguous(): a view saved by torch.save would otherwise become a strided parameter.
    target.set_data(weights.get(key).to(target.device(), target.scalar_type()).contiguous());
    report.loaded.push_back(key);
  };
  for (auto& item : module.named_parameters(/*recurse=*/true)) visit(item.key(), item.value());
  for (auto& item : module.named_buffers(/*recurse=*/true)) visit(item.key(), item.value());

  if (!report.missing.empty() || !report.mismatched.empty()) {
    std::ostringstream message;
    message << "cannot load module (prefix '" << prefix << "') from checkpoint "
            << weights.origin().string() << ':';
    if (!report.missing.empty()) {
      message << '\n' << report.missing.size() << " missing key(s):" << join(report.missing);
    }
    if (!report.mismatched.empty()) {
      message << '\n' << report.mismatched.size() << " key(s) with the wrong shape:" << join(report.mismatched);
    }
    throw WeightError(message.str());
  }
  return report;
}

std::vector<std::string> unexpected_keys(const Weights& weights,
                                         const std::vector<std::string>& consumed) {
  std::vector<std::string> used(consumed);
  std::sort(used.begin(), used.end());
  std::vector<std::string> out;
  for (const auto& name : weights.names()) {
    if (!std::binary_search(used.begin(), used.end(), name)) out.push_back(name);
  }
  return out;
}

}  // namespace regionlm
