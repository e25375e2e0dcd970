// The full-size trunk against the original library: open_clip's convnext_large_d_320 with
// seeded random weights (realistic layer-scale gammas), saved by torch.save in open_clip's
// key layout and run on a 512x512 input.
#include <gtest/gtest.h>

#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/vision/convnext.hpp"
#include "regionlm/osprey.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

namespace fs = std::filesystem;
using regionlm::vision::ConvNeXt;
using regionlm::test::config_from_metadata;
using regionlm::test::relative_to_max;

namespace {

TEST(ConvNeXtFullSize, OpenClipConvnextLargeMatchesFromBinAndSafetensors) {
  const fs::path dir = regionlm::test::scratch_dir("vision-convnext-large");
  regionlm::test::run_python("tests/vision/convnext_full_reference.py", {dir.string(), "512"});
  const fs::path reference_file = dir / "reference.safetensors";
  const auto reference = regionlm::load_weights(reference_file);
  const auto cfg = config_from_metadata(reference_file);
  EXPECT_EQ(cfg.depths, (std::vector<int64_t>{3, 3, 27, 3}));
  EXPECT_EQ(cfg.dims, (std::vector<int64_t>{192, 384, 768, 1536}));

  {
    ConvNeXt trunk(cfg, torch::TensorOptions().dtype(torch::kFloat32));
    regionlm::load_module(*trunk, regionlm::load_weights(dir / "open_clip_pytorch_model.bin"),
                          regionlm::osprey_keys::kClipTrunk);
    torch::NoGradGuard no_grad;
    const auto outputs = trunk->forward(reference.get("input.pixels"));
    ASSERT_EQ(outputs.size(), 4u);
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string key = "expected.res" + std::to_string(i + 2);
      SCOPED_TRACE(key);
      const auto expected = reference.get(key);
      ASSERT_EQ(outputs[i].sizes(), expected.sizes());
      const double error = relative_to_max(outputs[i], expected);
      EXPECT_LE(error, 1e-3);
      RecordProperty(key, c10::str(error));
    }

    // The same tensors through the safetensors reader fill an identical module.
    ConvNeXt from_safetensors(cfg, torch::TensorOptions().dtype(torch::kFloat32));
    regionlm::load_module(*from_safetensors, regionlm::load_weights(dir / "visual.safetensors"),
                          regionlm::osprey_keys::kClipTrunk);
    const auto a = trunk->named_parameters();
    const auto b = from_safetensors->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (const auto& item : a) {
      EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
    }
  }

  // bfloat16 (weights converted at load): PyTorch in bfloat16 runs the same kernels (one
  // bfloat16 unit of the map's max, 2^-8, allowed); against float32 the 36 blocks lose
  // 1-2% of each map's max to bfloat16 rounding in the reference itself, hence 5e-2.
  {
    ConvNeXt trunk(cfg, torch::TensorOptions().dtype(torch::kBFloat16));
    regionlm::load_module(*trunk, regionlm::load_weights(dir / "open_clip_pytorch_model.bin"),
                          regionlm::osprey_keys::kClipTrunk);
    torch::NoGradGuard no_grad;
    const auto outputs = trunk->forward(reference.get("input.pixels"));
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string level = "res" + std::to_string(i + 2);
      SCOPED_TRACE(level);
      EXPECT_EQ(outputs[i].scalar_type(), torch::kBFloat16);
      const double vs_torch = relative_to_max(outputs[i], reference.get("expected_bf16." + level));
      const double vs_f32 = relative_to_max(outputs[i], reference.get("expected." + level));
      EXPECT_LE(vs_torch, 4e-3);
      EXPECT_LE(vs_f32, 5e-2);
      RecordProperty("bf16." + level, c10::str(vs_torch, " / ", vs_f32));
    }
  }
  fs::remove_all(dir);  // about 1.6 GB of weights
}

}  // namespace
