// The CLIP vision tower against transformers' CLIPVisionModel (random 10-layer tower, 224 px,
// patch 14) and GPT4RoI's preprocessing against CLIPImageProcessor + bilinear squash.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "gpt4roi_reference_data.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/clip_vision.hpp"
#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/preprocess.hpp"

namespace regionlm::test {
namespace {

using gpt4roi::ClipVisionConfig;

const torch::TensorOptions kCpu = torch::TensorOptions().dtype(torch::kFloat32);

TEST(Gpt4roiClip, LayerRuleMatchesTheOriginalSlicing) {
  // CLIP-L (24 layers): spec A.1 gives 23 for the image tokens and 14, 17, 20, 23 for regions.
  const auto large = gpt4roi::hidden_state_indices(24, -2, 4);
  EXPECT_EQ(large.image, 23);
  EXPECT_EQ(large.regions, (std::vector<int64_t>{14, 17, 20, 23}));
  // The reference's 10-layer tower, as Python's hidden_states[-2::-3][::-1][-4:] numbers it.
  const auto& ref = gpt4roi_reference();
  const auto small = gpt4roi::hidden_state_indices(10, -2, 4);
  EXPECT_EQ(small.regions, ref.root.at("region_layers").get<std::vector<int64_t>>());
  EXPECT_EQ(small.image, 9);
}

TEST(Gpt4roiClip, TooShallowTowerOrBadSelectLayerIsAConfigError) {
  EXPECT_THROW(gpt4roi::hidden_state_indices(9, -2, 4), ConfigError);  // only 3 states left
  EXPECT_THROW(gpt4roi::hidden_state_indices(24, -26, 4), ConfigError);
  EXPECT_THROW(gpt4roi::hidden_state_indices(24, 25, 4), ConfigError);
}

TEST(Gpt4roiClip, ConfigReadsNestedAndFlatLayouts) {
  const auto flat = gpt4roi::parse_clip_vision_config(
      R"({"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
          "num_attention_heads": 16, "patch_size": 14, "image_size": 224})", "flat.json");
  EXPECT_EQ(flat.grid(), 16);
  EXPECT_EQ(flat.hidden_act, "quick_gelu");
  const auto nested = gpt4roi::parse_clip_vision_config(
      R"({"text_config": {"hidden_size": 768}, "vision_config": {"hidden_size": 1024, "patch_size": 14,
          "num_attention_heads": 16}})", "clip.json");
  EXPECT_EQ(nested.hidden_size, 1024);
  EXPECT_EQ(nested.num_patches(), 256);
  EXPECT_THROW(gpt4roi::parse_clip_vision_config(R"({"hidden_act": "relu"})", "x.json"), ConfigError);
  EXPECT_THROW(gpt4roi::parse_clip_vision_config(R"({"patch_size": 15})", "x.json"), ConfigError);
  try {
    gpt4roi::parse_clip_vision_config(R"({"hidden_size": "wide"})", "x.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
}

TEST(Gpt4roiClip, PreprocessingMatchesClipImageProcessor) {
  const auto& ref = gpt4roi_reference();
  VisionConfig cfg;
  cfg.image_size = 224;  // CLIP's mean/std are VisionConfig's defaults
  const torch::Tensor pixels = vision::preprocess(vision::load_image(ref.image), cfg, kCpu);  // [1, 3, 224, 224]
  const double diff = max_abs_diff(pixels[0], ref.tensor("pixels"));
  std::cout << "  max |pixel - CLIPImageProcessor| = " << diff << "\n";
  EXPECT_LT(diff, 1e-5);
}

TEST(Gpt4roiClip, HiddenStatesMatchTransformers) {
  const auto& ref = gpt4roi_reference();
  auto tower = gpt4roi::load_clip_vision_tower(ref.clip, kCpu);
  const int64_t layers = tower->config().num_hidden_layers;
  ASSERT_EQ(layers, 10);
  std::vector<int64_t> all;
  for (int64_t i = 0; i <= layers; ++i) all.push_back(i);
  c10::InferenceMode guard;
  const auto states = tower->forward(ref.tensor("pixels").unsqueeze(0), all);
  ASSERT_EQ(states.size(), all.size());
  double worst = 0;
  for (int64_t i = 0; i <= layers; ++i) {
    const auto expected = ref.tensor("hidden." + std::to_string(i));  // [257, D]
    ASSERT_EQ(states[i].sizes(), expected.unsqueeze(0).sizes());
    worst = std::max(worst, max_abs_diff(states[i][0], expected));
  }
  std::cout << "  max |hidden state - CLIPVisionModel| over 11 states = " << worst << "\n";
  EXPECT_LT(worst, 1e-4);
  // Only the layers up to the largest index asked for run; the answer is the same.
  const auto partial = tower->forward(ref.tensor("pixels").unsqueeze(0), {9, 3});
  EXPECT_TRUE(torch::equal(partial[0], states[9]));
  EXPECT_TRUE(torch::equal(partial[1], states[3]));
}

TEST(Gpt4roiClip, BadInputsAreTypedErrors) {
  const auto& ref = gpt4roi_reference();
  auto tower = gpt4roi::load_clip_vision_tower(ref.clip, kCpu);
  EXPECT_THROW(tower->forward(torch::zeros({1, 3, 100, 100}), {1}), ShapeError);
  EXPECT_THROW(tower->forward(torch::zeros({1, 3, 224, 224}), {11}), ArgumentError);
  try {
    gpt4roi::load_clip_vision_tower(load_weights(ref.clip), tower->config(), kCpu, "wrong.");
    FAIL() << "expected WeightError";
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong.embeddings.class_embedding"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace regionlm::test
