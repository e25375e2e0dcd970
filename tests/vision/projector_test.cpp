// Projector against the PyTorch modules LLaVA/Osprey build, and its argument checks.
#include <gtest/gtest.h>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/vision/projector.hpp"
#include "regionlm/osprey.hpp"
#include "test_util.hpp"
#include "vision_test_util.hpp"

using regionlm::vision::Projector;
using regionlm::test::max_abs_diff;

namespace {

TEST(Projector, MatchesPyTorchForEachType) {
  const auto file = regionlm::test::scratch_dir("vision-projector") / "projector.safetensors";
  regionlm::test::run_python("tests/vision/projector_reference.py", {file.string()});
  const auto w = regionlm::load_weights(file);
  for (const std::string type : {"mlp2x_gelu", "linear"}) {
    SCOPED_TRACE(type);
    const auto features = w.get(type + ".input.features");
    const auto expected = w.get(type + ".expected.tokens");
    Projector projector(type, features.size(1), expected.size(2), torch::TensorOptions());
    const auto report = regionlm::load_module(*projector, w, type + "." + regionlm::osprey_keys::kProjector);
    EXPECT_EQ(report.loaded.size(), type == "linear" ? 2u : 4u);
    const auto tokens = projector->forward(features);
    ASSERT_EQ(tokens.sizes(), expected.sizes());
    EXPECT_LE(max_abs_diff(tokens, expected), 1e-5);
  }
}

TEST(Projector, TokensAreRowMajorPixels) {
  Projector projector("linear", 2, 2, torch::TensorOptions());
  for (auto& p : projector->named_parameters()) {
    p.value().data().copy_(p.key() == "weight" ? torch::eye(2) : torch::zeros({2}));
  }
  const auto map = torch::arange(12, torch::kFloat32).view({1, 2, 2, 3});  // [B, C, h, w]
  const auto tokens = projector->forward(map);                             // [1, 6, 2]
  // token y * w + x carries pixel (y, x): channel 0 value y * 3 + x, channel 1 that + 6.
  EXPECT_EQ(tokens[0][4][0].item<float>(), 4.0f);
  EXPECT_EQ(tokens[0][4][1].item<float>(), 10.0f);
}

TEST(Projector, RejectsUnknownTypesAndWrongInputs) {
  EXPECT_THROW(Projector("identity", 4, 8, torch::TensorOptions()), regionlm::ConfigError);
  EXPECT_THROW(Projector("mlp2x_relu", 4, 8, torch::TensorOptions()), regionlm::ConfigError);
  EXPECT_THROW(Projector("linear", 0, 8, torch::TensorOptions()), regionlm::ConfigError);
  Projector projector("mlp3x_gelu", 4, 8, torch::TensorOptions());
  EXPECT_EQ(projector->named_children().size(), 3u);  // "0", "2", "4"
  EXPECT_THROW(projector->forward(torch::zeros({1, 5, 2, 2})), regionlm::ShapeError);
  EXPECT_THROW(projector->forward(torch::zeros({4, 2, 2})), regionlm::ShapeError);
}

}  // namespace
