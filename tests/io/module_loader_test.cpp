// load_module: the name walk over parameters and buffers, conversion, and error reporting.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "reader_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace regionlm::test;

namespace {

// Mirrors checkpoint keys "proj.weight", "proj.bias", "blocks.0.scale", "blocks.1.scale",
// "norm.running" (a buffer), built uninitialised like every regionlm module.
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const torch::TensorOptions& options) {
    scale = register_parameter("scale", torch::empty({4}, options));
  }
  torch::Tensor scale;
};
TORCH_MODULE(Block);

struct NormImpl : torch::nn::Module {
  explicit NormImpl(const torch::TensorOptions& options) {
    running = register_buffer("running", torch::empty({4}, options));
  }
  torch::Tensor running;
};
TORCH_MODULE(Norm);

struct TinyImpl : torch::nn::Module {
  explicit TinyImpl(const torch::TensorOptions& options) {
    proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(3, 4)));
    proj->to(c10::typeMetaToScalarType(options.dtype()));
    blocks = register_module("blocks", torch::nn::ModuleList(Block(options), Block(options)));
    norm = register_module("norm", Norm(options));
  }
  torch::nn::Linear proj{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  Norm norm{nullptr};
};
TORCH_MODULE(Tiny);

std::vector<std::pair<std::string, torch::Tensor>> tiny_checkpoint(const std::string& prefix) {
  torch::manual_seed(0);
  return {{prefix + "proj.weight", torch::randn({4, 3})},
          {prefix + "proj.bias", torch::randn({4})},
          {prefix + "blocks.0.scale", torch::randn({4})},
          {prefix + "blocks.1.scale", torch::randn({4})},
          {prefix + "norm.running", torch::randn({4})},
          {"other.weight", torch::randn({2})}};
}

regionlm::Weights save(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  const fs::path file = scratch_dir("module-loader") / "tiny.safetensors";
  regionlm::save_safetensors(file, tensors);
  return regionlm::load_weights(file);
}

}  // namespace

TEST(ModuleLoader, LoadsEveryParameterAndBufferConvertingDtype) {
  const auto tensors = tiny_checkpoint("model.tiny.");
  const auto weights = save(tensors);
  Tiny tiny(torch::TensorOptions().dtype(torch::kBFloat16));
  const auto report = regionlm::load_module(*tiny, weights, "model.tiny.");
  EXPECT_EQ(report.loaded.size(), 5u);
  EXPECT_TRUE(report.missing.empty());
  for (const auto& [key, expected] : tensors) {
    if (key.rfind("model.tiny.", 0) != 0) continue;
    const std::string name = key.substr(std::string("model.tiny.").size());
    torch::Tensor actual = name == "norm.running" ? tiny->norm->running : tiny->named_parameters()[name];
    EXPECT_EQ(actual.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(torch::equal(actual, expected.to(torch::kBFloat16))) << name;
  }
  // Parameters stay parameters: gradients still flow after loading.
  EXPECT_TRUE(tiny->proj->weight.requires_grad());
  EXPECT_EQ(regionlm::unexpected_keys(weights, report.loaded), (std::vector<std::string>{"other.weight"}));
}

TEST(ModuleLoader, ReportsAllMissingAndMisshapenKeysAtOnce) {
  auto tensors = tiny_checkpoint("");
  tensors.erase(tensors.begin() + 1);                // proj.bias missing
  tensors[1].second = torch::zeros({5});             // blocks.0.scale misshapen
  tensors.erase(tensors.begin() + 3);                // norm.running missing
  const auto weights = save(tensors);
  Tiny tiny{torch::TensorOptions()};
  expect_error<regionlm::WeightError>([&] { regionlm::load_module(*tiny, weights, ""); },
                                      {"tiny.safetensors", "2 missing", "proj.bias", "norm.running",
                                       "blocks.0.scale: expected [4], found [5]"});
}

TEST(ModuleLoader, OptionalNamesMayBeAbsent) {
  auto tensors = tiny_checkpoint("");
  tensors.erase(tensors.begin() + 4);  // norm.running
  const auto weights = save(tensors);
  Tiny tiny{torch::TensorOptions()};
  tiny->norm->running.fill_(42.0f);
  const auto report = regionlm::load_module(*tiny, weights, "", {"norm.running"});
  EXPECT_EQ(report.loaded.size(), 4u);
  EXPECT_TRUE(torch::all(tiny->norm->running == 42.0f).item<bool>());
}
