// ConvNeXt trunk against the `convnext-*` fixtures (timm 0.6.13), in float32 and in reduced
// precision, plus loading from either checkpoint prefix and the typed errors.
#include "regionlm/vision/convnext.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/osprey.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

namespace fs = std::filesystem;
using regionlm::VisionConfig;
using regionlm::vision::ConvNeXt;
using regionlm::test::config_from_metadata;
using regionlm::test::max_abs_diff;
using regionlm::test::relative_to_max;

namespace {

const std::string kOpenClipPrefix = regionlm::osprey_keys::kClipTrunk;
const std::string kOspreyPrefix = regionlm::osprey_keys::kTrunk;

std::vector<fs::path> fixtures() {
  auto files = regionlm::test::find_fixtures("convnext-");
  EXPECT_FALSE(files.empty()) << "no convnext-* fixtures in " << regionlm::test::fixtures_dir();
  return files;
}

// Names `j` of the fixture's inputs `input.pixels{j}`.
std::vector<std::string> input_names(const regionlm::Weights& w) {
  std::vector<std::string> names;
  for (const auto& key : w.names_with_prefix("input.pixels")) names.push_back(key.substr(6));
  return names;
}

ConvNeXt load_trunk(const fs::path& file, torch::ScalarType dtype, const std::string& prefix,
                    const regionlm::Weights& weights) {
  ConvNeXt trunk(config_from_metadata(file), torch::TensorOptions().dtype(dtype));
  regionlm::load_module(*trunk, weights, prefix);
  return trunk;
}

TEST(ConvNeXt, MatchesEveryFixtureInFloat32) {
  const auto files = fixtures();
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const auto w = regionlm::load_weights(file);
    auto trunk = load_trunk(file, torch::kFloat32, kOpenClipPrefix, w);
    const auto names = input_names(w);
    ASSERT_FALSE(names.empty());
    for (const auto& name : names) {
      const auto outputs = trunk->forward(w.get("input." + name));
      ASSERT_EQ(outputs.size(), 4u);
      for (size_t i = 0; i < outputs.size(); ++i) {
        const std::string key = "expected." + name + ".res" + std::to_string(i + 2);
        SCOPED_TRACE(key);
        EXPECT_EQ(outputs[i].scalar_type(), torch::kFloat32);
        EXPECT_LE(max_abs_diff(outputs[i], w.get(key)), 1e-4);
      }
    }
  }
}

// Every module parameter is a checkpoint key and only the classifier head is left over.
TEST(ConvNeXt, ParameterNamesMirrorCheckpointKeys) {
  for (const auto& file : fixtures()) {
    const auto w = regionlm::load_weights(file);
    ConvNeXt trunk(config_from_metadata(file), torch::TensorOptions());
    const auto report = regionlm::load_module(*trunk, w, kOpenClipPrefix);
    for (const auto& key : regionlm::unexpected_keys(w, report.loaded)) {
      const bool head = key.rfind(kOpenClipPrefix + "head.", 0) == 0;
      const bool not_weights = key.rfind("input.", 0) == 0 || key.rfind("expected.", 0) == 0;
      EXPECT_TRUE(head || not_weights) << "unused checkpoint key " << key;
    }
  }
}

TEST(ConvNeXt, LoadsFromOspreyPrefix) {
  const auto file = fixtures().front();
  const auto w = regionlm::load_weights(file);
  std::vector<std::pair<std::string, torch::Tensor>> renamed;
  for (const auto& key : w.names_with_prefix(kOpenClipPrefix)) {
    renamed.emplace_back(kOspreyPrefix + key.substr(kOpenClipPrefix.size()), w.get(key));
  }
  const auto moved = regionlm::test::scratch_dir("vision-prefix") / "osprey.safetensors";
  regionlm::save_safetensors(moved, renamed);
  auto trunk = load_trunk(file, torch::kFloat32, kOspreyPrefix, regionlm::load_weights(moved));
  const auto name = input_names(w).front();
  const auto outputs = trunk->forward(w.get("input." + name));
  EXPECT_LE(max_abs_diff(outputs[3], w.get("expected." + name + ".res5")), 1e-4);
}

// Reduced precision on the CPU, two references:
//  - the float32 fixture: the error is the precision loss itself. bfloat16 keeps 8
//    significant bits (relative rounding 2^-9 = 0.2%) and every layer rounds weights and
//    activations again; this small net measures 0.4-1.0% of each map's max (float16, 11
//    bits: 0.06-0.09%). Limits: 3x that, 3e-2 and 3e-3 — a wrong op order or a missing
//    float32 accumulation shows up well above them;
//  - PyTorch eager in the same dtype (same LibTorch kernels, same op order): measured
//    bit-identical; the limit allows one unit in the last place of the map's max
//    (2^-8 for bfloat16, 2^-11 for float16) in case thread scheduling changes a reduction.
TEST(ConvNeXt, ReducedPrecisionTracksFloat32AndPyTorch) {
  struct Case {
    torch::ScalarType dtype;
    const char* name;
    double vs_float32;  // max |error| / max |reference|
    double vs_pytorch;
  };
  const Case cases[] = {{torch::kBFloat16, "bfloat16", 3e-2, 4e-3},
                        {torch::kFloat16, "float16", 3e-3, 5e-4}};
  const auto file = fixtures().front();
  const auto w = regionlm::load_weights(file);
  const auto reference_file = regionlm::test::scratch_dir("vision-lowp") / "lowp.safetensors";
  regionlm::test::run_python("tests/vision/convnext_lowp_reference.py",
                             {file.string(), reference_file.string()});
  const auto torch_lowp = regionlm::load_weights(reference_file);
  for (const auto& c : cases) {
    auto trunk = load_trunk(file, c.dtype, kOpenClipPrefix, w);
    for (const auto& name : input_names(w)) {
      const auto outputs = trunk->forward(w.get("input." + name));  // float32 in, cast inside
      for (size_t i = 0; i < outputs.size(); ++i) {
        const std::string level = name + ".res" + std::to_string(i + 2);
        SCOPED_TRACE(std::string(c.name) + " " + level);
        EXPECT_EQ(outputs[i].scalar_type(), c.dtype);
        const double vs_f32 = relative_to_max(outputs[i], w.get("expected." + level));
        const double vs_torch =
            relative_to_max(outputs[i], torch_lowp.get(std::string(c.name) + "." + level));
        EXPECT_LE(vs_f32, c.vs_float32);
        EXPECT_LE(vs_torch, c.vs_pytorch);
        RecordProperty(std::string(c.name) + "." + level, c10::str(vs_f32, " / ", vs_torch));
      }
    }
  }
}

// Checkpoint with one tensor removed or reshaped: WeightError naming that key.
void expect_weight_error(const fs::path& file, const std::string& key, bool reshape) {
  const auto w = regionlm::load_weights(file);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& name : w.names()) {
    if (name != key) {
      tensors.emplace_back(name, w.get(name));
    } else if (reshape) {
      tensors.emplace_back(name, torch::zeros({w.get(name).numel() + 1}));
    }
  }
  const auto broken = regionlm::test::scratch_dir("vision-broken") / "broken.safetensors";
  regionlm::save_safetensors(broken, tensors);
  ConvNeXt trunk(config_from_metadata(file), torch::TensorOptions());
  try {
    regionlm::load_module(*trunk, regionlm::load_weights(broken), kOpenClipPrefix);
    ADD_FAILURE() << "loading without a valid " << key << " succeeded";
  } catch (const regionlm::WeightError& e) {
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

TEST(ConvNeXt, MissingOrMisshapenWeightsNameTheKey) {
  const auto file = fixtures().front();
  expect_weight_error(file, kOpenClipPrefix + "stages.2.blocks.1.gamma", /*reshape=*/false);
  expect_weight_error(file, kOpenClipPrefix + "stages.1.downsample.1.weight", /*reshape=*/true);
  expect_weight_error(file, kOpenClipPrefix + "stem.1.bias", /*reshape=*/true);
}

TEST(ConvNeXt, ConfigDisagreeingWithCheckpointIsAWeightError) {
  const auto file = fixtures().front();
  VisionConfig cfg = config_from_metadata(file);
  cfg.dims[1] *= 2;
  ConvNeXt trunk(cfg, torch::TensorOptions());
  EXPECT_THROW(regionlm::load_module(*trunk, regionlm::load_weights(file), kOpenClipPrefix),
               regionlm::WeightError);
  cfg = config_from_metadata(file);
  cfg.depths[0] += 1;  // a block the checkpoint does not have
  ConvNeXt deeper(cfg, torch::TensorOptions());
  EXPECT_THROW(regionlm::load_module(*deeper, regionlm::load_weights(file), kOpenClipPrefix),
               regionlm::WeightError);
}

TEST(ConvNeXt, RejectsBadConfigs) {
  VisionConfig cfg;
  cfg.depths = {1, 1};
  EXPECT_THROW(ConvNeXt(cfg, torch::TensorOptions()), regionlm::ConfigError);
  cfg.dims = {4, 0};
  EXPECT_THROW(ConvNeXt(cfg, torch::TensorOptions()), regionlm::ConfigError);
  cfg.depths = {};
  cfg.dims = {};
  EXPECT_THROW(ConvNeXt(cfg, torch::TensorOptions()), regionlm::ConfigError);
}

TEST(ConvNeXt, RejectsBadPixels) {
  VisionConfig cfg;
  cfg.depths = {1, 1, 1, 1};
  cfg.dims = {4, 8, 8, 8};
  ConvNeXt trunk(cfg, torch::TensorOptions());
  for (auto& p : trunk->parameters()) p.data().normal_();
  EXPECT_EQ(trunk->total_stride(), 32);
  EXPECT_THROW(trunk->forward(torch::zeros({3, 64, 64})), regionlm::ShapeError);
  EXPECT_THROW(trunk->forward(torch::zeros({1, 1, 64, 64})), regionlm::ShapeError);
  EXPECT_THROW(trunk->forward(torch::zeros({1, 3, 64, 16})), regionlm::ShapeError);
  EXPECT_THROW(trunk->forward(torch::zeros({1, 3, 64, 64}, torch::kUInt8)), regionlm::ShapeError);
  const auto outputs = trunk->forward(torch::zeros({2, 3, 64, 96}));
  ASSERT_EQ(outputs.size(), 4u);
  EXPECT_EQ(outputs[0].sizes(), (std::vector<int64_t>{2, 4, 16, 24}));
  EXPECT_EQ(outputs[3].sizes(), (std::vector<int64_t>{2, 8, 2, 3}));
}

}  // namespace
