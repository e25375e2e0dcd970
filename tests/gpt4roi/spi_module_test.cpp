// The region branch against the reference written from the spec (torchvision's roi_align,
// F.interpolate, F.group_norm): RoIAlign alone, the fused pyramid, and the region feature
// of every case (1, 3 and repeated regions, boxes touching the image border).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <iostream>

#include "gpt4roi_reference_data.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/clip_vision.hpp"
#include "regionlm/gpt4roi/roi_align.hpp"
#include "regionlm/gpt4roi/spi_module.hpp"

namespace regionlm::test {
namespace {

const torch::TensorOptions kCpu = torch::TensorOptions().dtype(torch::kFloat32);

gpt4roi::Gpt4roiConfig reference_config() {
  const auto& ref = gpt4roi_reference();
  auto config = gpt4roi::load_gpt4roi_config(ref.model);
  config.vision = gpt4roi::load_clip_vision_config(ref.clip);
  return config;
}

gpt4roi::SpiModule reference_spi() {
  return gpt4roi::load_spi_module(load_weights(gpt4roi_reference().model), reference_config(), kCpu);
}

/// The region levels' patch tokens from the reference hidden states, [1, 256, C] each.
std::vector<torch::Tensor> region_tokens() {
  const auto& ref = gpt4roi_reference();
  std::vector<torch::Tensor> out;
  for (const auto& i : ref.root.at("region_layers")) {
    out.push_back(ref.tensor("hidden." + std::to_string(i.get<int64_t>())).slice(0, 1).unsqueeze(0));
  }
  return out;
}

TEST(Gpt4roiRoiAlign, MatchesTorchvision) {
  const auto& ref = gpt4roi_reference();
  const auto features = ref.tensor("roi.features");
  const auto rois = ref.tensor("roi.rois");
  int checked = 0;
  for (const double scale : {1.0, 0.5714285714285714}) {
    for (const bool aligned : {true, false}) {
      for (const int64_t ratio : {1, 2, 3}) {
        char key[64];
        std::snprintf(key, sizeof key, "roi.s%.3f.a%d.r%lld", scale, aligned ? 1 : 0,
                      static_cast<long long>(ratio));
        SCOPED_TRACE(key);
        gpt4roi::RoiAlignOptions options;
        options.output_size = 4;
        options.spatial_scale = scale;
        options.sampling_ratio = ratio;
        options.aligned = aligned;
        const auto got = gpt4roi::roi_align(features, rois, options);
        const auto expected = ref.tensor(key);
        ASSERT_EQ(got.sizes(), expected.sizes());
        EXPECT_LT(max_abs_diff(got, expected), 1e-5);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(Gpt4roiRoiAlign, BadArgumentsAreTypedErrors) {
  gpt4roi::RoiAlignOptions options;
  const auto f = torch::zeros({1, 2, 4, 4});
  EXPECT_THROW(gpt4roi::roi_align(f, torch::zeros({1, 4}), options), ShapeError);
  EXPECT_THROW(gpt4roi::roi_align(f, torch::tensor({{1.f, 0.f, 0.f, 1.f, 1.f}}), options), ShapeError);
  options.sampling_ratio = 0;
  EXPECT_THROW(gpt4roi::roi_align(f, torch::zeros({1, 5}), options), ArgumentError);
}

TEST(Gpt4roiSpiModule, FusedPyramidMatchesReference) {
  const auto& ref = gpt4roi_reference();
  auto spi = reference_spi();
  c10::InferenceMode guard;
  const auto levels = spi->fused_levels(region_tokens());
  ASSERT_EQ(levels.size(), 4u);
  for (size_t l = 0; l < levels.size(); ++l) {
    const auto expected = ref.tensor("fused." + std::to_string(l));  // [C, side, side]
    ASSERT_EQ(levels[l][0].sizes(), expected.sizes());
    const double diff = max_abs_diff(levels[l][0], expected);
    std::cout << "  level " << l << " (" << expected.size(1) << "x" << expected.size(2)
              << "): max |fused - reference| = " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
  }
}

TEST(Gpt4roiSpiModule, RegionFeaturesMatchReference) {
  const auto& ref = gpt4roi_reference();
  auto spi = reference_spi();
  c10::InferenceMode guard;
  const auto tokens = region_tokens();
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto expected = ref.tensor(name + ".region_features");  // [K, hidden]
    const auto got = spi->forward(tokens, ref.tensor(name + ".boxes01"));
    ASSERT_EQ(got.sizes(), expected.sizes());
    const double diff = max_abs_diff(got, expected);
    const double scale = expected.abs().max().item<double>();
    std::cout << "  " << name << ": " << expected.size(0) << " region(s), max |feature - reference| = " << diff
              << " (features up to " << scale << ")\n";
    EXPECT_LT(diff, 1e-4 * std::max(1.0, scale));
  }
}

TEST(Gpt4roiSpiModule, RepeatedBoxesGiveIdenticalFeatures) {
  auto spi = reference_spi();
  c10::InferenceMode guard;
  const auto boxes = torch::tensor({{0.1f, 0.2f, 0.5f, 0.7f}, {0.3f, 0.3f, 0.9f, 1.0f}, {0.1f, 0.2f, 0.5f, 0.7f}});
  const auto f = spi->forward(region_tokens(), boxes);
  EXPECT_TRUE(torch::equal(f[0], f[2]));
  EXPECT_FALSE(torch::allclose(f[0], f[1]));
}

TEST(Gpt4roiSpiModule, WrongInputsAreShapeErrors) {
  auto spi = reference_spi();
  auto tokens = region_tokens();
  EXPECT_THROW(spi->forward({tokens[0], tokens[1]}, torch::zeros({1, 4})), ShapeError);
  EXPECT_THROW(spi->forward(tokens, torch::zeros({1, 3})), ShapeError);
  tokens[2] = tokens[2].slice(1, 0, 100);
  EXPECT_THROW(spi->forward(tokens, torch::zeros({1, 4})), ShapeError);
}

TEST(Gpt4roiSpiModule, FullSizeKeysAndShapesAreTheReleasedCheckpoints) {
  // GPT4RoI-7B's region branch (CLIP-L width 1024, decoder 4096, the hard-coded defaults), built
  // on the meta device: the spec's key list (43 tensors) and parameter count (about 299.1 M).
  gpt4roi::ClipVisionConfig clip_l;
  clip_l.hidden_size = 1024;
  clip_l.patch_size = 14;
  gpt4roi::SpiModule spi(clip_l, 4096, gpt4roi::SpiConfig{}, torch::TensorOptions().device(torch::kMeta));
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t total = 0;
  for (const auto& p : spi->named_parameters()) {
    shapes[p.key()] = p.value().sizes().vec();
    total += p.value().numel();
  }
  EXPECT_EQ(shapes.size(), 43u);
  EXPECT_NEAR(static_cast<double>(total), 299.1e6, 0.05e6);
  const std::map<std::string, std::vector<int64_t>> spec = {
      {"mlvl_fuse.input_conv.3.weight", {1024, 1026, 1, 1}},
      {"mlvl_fuse.input_conv.0.bias", {1024}},
      {"mlvl_fuse.fuse_convs.4.conv.weight", {1024, 1024, 3, 3}},
      {"mlvl_fuse.fuse_convs.0.gn.weight", {1024}},
      {"mlvl_fuse.fuse_convs.2.gn.bias", {1024}},
      {"roi_align.pconvs.3.weight", {1024, 1024, 3, 3}},
      {"roi_align.pconvs.1.bias", {1024}},
      {"roi_align.pos_embedd.0.weight", {256, 4}},
      {"roi_align.pos_embedd.2.weight", {256}},
      {"roi_align.pos_embedd.3.weight", {1024, 256}},
      {"roi_align.pos_embedd.5.bias", {1024}},
      {"roi_align.flatten_linear.weight", {1024, 200704}},
      {"roi_align.updims.weight", {4096, 1024}},
      {"roi_align.updims.bias", {4096}},
  };
  for (const auto& [name, shape] : spec) {
    ASSERT_TRUE(shapes.count(name)) << name;
    EXPECT_EQ(shapes[name], shape) << name;
  }
  EXPECT_EQ(shapes.count("mlvl_fuse.fuse_convs.0.conv.bias"), 0u);  // no bias before GroupNorm
}

TEST(Gpt4roiSpiModule, MissingCheckpointKeysAreNamed) {
  auto config = reference_config();
  try {
    gpt4roi::load_spi_module(load_weights(gpt4roi_reference().model), config, kCpu, "model.spi.");
    FAIL() << "expected WeightError";
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("model.spi.roi_align.flatten_linear.weight"), std::string::npos);
  }
}

}  // namespace
}  // namespace regionlm::test
