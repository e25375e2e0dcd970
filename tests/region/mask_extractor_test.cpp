// MaskExtractor against Osprey's own outputs (extractor-* fixtures), at Osprey's real
// sizes, and on bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/region/mask_extractor.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/osprey.hpp"
#include "test_util.hpp"

namespace regionlm::test {
using namespace regionlm::region;
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kLevelNames{"res2", "res3", "res4", "res5"};

struct Fixture {
  std::map<std::string, std::string> meta;
  Weights weights;
  MaskExtractor extractor{nullptr};
  std::vector<torch::Tensor> features;
  torch::Tensor masks;
};

Fixture open_fixture(const std::filesystem::path& file) {
  Fixture f;
  for (const auto& [key, value] : safetensors_metadata(file)) f.meta[key] = value;
  f.weights = load_weights(file);
  const auto channels = nlohmann::json::parse(f.meta.at("level_channels")).get<std::vector<int64_t>>();
  f.extractor = MaskExtractor(channels, std::stoll(f.meta.at("embed_dim")),
                              std::stoll(f.meta.at("out_dim")),
                              std::stoll(f.meta.at("mask_shape")),
                              torch::TensorOptions().dtype(torch::kFloat32));
  load_module(*f.extractor, f.weights, osprey_keys::kExtractor);
  for (const auto& name : kLevelNames) f.features.push_back(f.weights.get("input." + name));
  f.masks = f.weights.get("input.masks");
  return f;
}

double tolerance_for(const Fixture& f) {
  // README: 1e-4 for float32; bfloat16 per-level rounding reproduced, so 1e-2 is ample.
  return f.meta.at("feature_dtype") == "float32" ? 1e-4 : 1e-2;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

TEST(MaskExtractorParity, MatchesEveryFixture) {
  const auto files = test::find_fixtures("extractor-");
  ASSERT_FALSE(files.empty()) << "no extractor-*.safetensors in " << test::fixtures_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    Fixture f = open_fixture(file);
    EXPECT_EQ(f.features[0].scalar_type(),
              f.meta.at("feature_dtype") == "float32" ? torch::kFloat32 : torch::kBFloat16);
    const auto out = f.extractor->forward(f.features, f.masks);
    const auto expected_mask = f.weights.get("expected.mask_tokens");
    const auto expected_pos = f.weights.get("expected.pos_tokens");
    ASSERT_EQ(out.mask_tokens.sizes(), expected_mask.sizes());
    ASSERT_EQ(out.pos_tokens.sizes(), expected_pos.sizes());
    EXPECT_EQ(out.mask_tokens.scalar_type(), torch::kFloat32);
    const double tol = tolerance_for(f);
    const double mask_err = max_abs_diff(out.mask_tokens, expected_mask);
    const double pos_err = max_abs_diff(out.pos_tokens, expected_pos);
    EXPECT_LE(mask_err, tol);
    EXPECT_LE(pos_err, tol);
    std::cout << file.filename().string() << ": max |mask token diff| " << mask_err
              << ", max |pos token diff| " << pos_err << "\n";
  }
}

TEST(MaskExtractorParity, ParameterNamesAreTheCheckpointKeys) {
  const auto files = test::find_fixtures("extractor-");
  ASSERT_FALSE(files.empty());
  Fixture f = open_fixture(files.front());
  std::set<std::string> module_keys;
  for (const auto& p : f.extractor->named_parameters()) module_keys.insert(osprey_keys::kExtractor + p.key());
  const auto stored = f.weights.names_with_prefix(osprey_keys::kExtractor);
  EXPECT_EQ(module_keys, std::set<std::string>(stored.begin(), stored.end()));
}

TEST(MaskExtractorParity, MaskDtypeDoesNotMatter) {
  const auto files = test::find_fixtures("extractor-");
  ASSERT_FALSE(files.empty());
  Fixture f = open_fixture(files.front());
  const auto base = f.extractor->forward(f.features, f.masks);
  for (auto dtype : {torch::kBool, torch::kFloat32, torch::kInt64}) {
    const auto other = f.extractor->forward(f.features, f.masks.to(dtype));
    EXPECT_TRUE(torch::equal(base.mask_tokens, other.mask_tokens)) << dtype;
    EXPECT_TRUE(torch::equal(base.pos_tokens, other.pos_tokens)) << dtype;
  }
}

TEST(MaskExtractorParity, EmptyMaskGivesBiasOnlyTokens) {
  const auto files = test::find_fixtures("extractor-");
  ASSERT_FALSE(files.empty());
  Fixture f = open_fixture(files.front());
  const auto masks = torch::zeros({1, f.masks.size(1), f.masks.size(2)}, torch::kUInt8);
  const auto out = f.extractor->forward(f.features, masks);
  // Every level pools nothing, so each contributes its bias (rounded like the level output).
  auto summed = torch::zeros({f.extractor->embed_dim()});
  for (size_t i = 0; i < kLevelNames.size(); ++i) {
    summed += f.weights.get(osprey_keys::kExtractor + kLevelNames[i] + ".bias")
                  .to(f.features[i].scalar_type())
                  .to(torch::kFloat32);
  }
  const auto expected = torch::nn::functional::linear(
      summed, f.weights.get("mask_extractor.feat_linear.weight"),
      f.weights.get("mask_extractor.feat_linear.bias"));
  EXPECT_LE(max_abs_diff(out.mask_tokens[0], expected), 1e-5);
}

TEST(MaskExtractorParity, SameResultOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto files = test::find_fixtures("extractor-");
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    Fixture f = open_fixture(file);
    f.extractor->to(torch::kCUDA);
    std::vector<torch::Tensor> features;
    for (const auto& t : f.features) features.push_back(t.to(torch::kCUDA));
    const auto out = f.extractor->forward(features, f.masks.to(torch::kCUDA));
    EXPECT_EQ(out.mask_tokens.device().type(), torch::kCUDA);
    EXPECT_LE(max_abs_diff(out.mask_tokens.cpu(), f.weights.get("expected.mask_tokens")),
              tolerance_for(f));
    EXPECT_LE(max_abs_diff(out.pos_tokens.cpu(), f.weights.get("expected.pos_tokens")),
              tolerance_for(f));
  }
}

// Osprey's sizes: ConvNeXt-Large levels at 512 px, 1024 embed, 4096 out, 112 mask side,
// masks at a 480x640 image.
class RealisticExtractor : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::manual_seed(7);
    extractor_ = new MaskExtractor(std::vector<int64_t>{192, 384, 768, 1536}, 1024, 4096, 112,
                                   torch::TensorOptions().dtype(torch::kFloat32));
    torch::NoGradGuard no_grad;
    for (auto& p : (*extractor_)->parameters()) p.normal_(0.0, 0.02);
    const int64_t sides[] = {128, 64, 32, 16};
    const int64_t channels[] = {192, 384, 768, 1536};
    features_ = new std::vector<torch::Tensor>();
    for (int i = 0; i < 4; ++i) {
      features_->push_back(torch::randn({1, channels[i], sides[i], sides[i]}));
    }
    std::vector<Region> regions;
    for (int i = 0; i < 32; ++i) {  // boxes of varied sizes, from tiny to most of the image
      const double x0 = 19.0 * i, y0 = 14.0 * i;
      regions.push_back(Region::from_box(x0, y0, x0 + 3 + 5 * i, y0 + 2 + 4 * i));
    }
    masks_ = new torch::Tensor(regions_to_masks(regions, 480, 640, torch::kCPU));
  }
  static void TearDownTestSuite() {
    delete extractor_;
    delete features_;
    delete masks_;
  }
  static MaskExtractor* extractor_;
  static std::vector<torch::Tensor>* features_;
  static torch::Tensor* masks_;
};
MaskExtractor* RealisticExtractor::extractor_ = nullptr;
std::vector<torch::Tensor>* RealisticExtractor::features_ = nullptr;
torch::Tensor* RealisticExtractor::masks_ = nullptr;

TEST_F(RealisticExtractor, ThirtyTwoRegionsMatchOneAtATime) {
  torch::NoGradGuard no_grad;
  const auto all = (*extractor_)->forward(*features_, *masks_);
  ASSERT_EQ(all.mask_tokens.sizes(), (std::vector<int64_t>{32, 4096}));
  ASSERT_EQ(all.pos_tokens.sizes(), (std::vector<int64_t>{32, 4096}));
  EXPECT_TRUE(torch::isfinite(all.mask_tokens).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(all.pos_tokens).all().item<bool>());
  for (int64_t q : {0, 13, 31}) {
    const auto one = (*extractor_)->forward(*features_, masks_->slice(0, q, q + 1));
    ASSERT_EQ(one.mask_tokens.sizes(), (std::vector<int64_t>{1, 4096}));
    EXPECT_LE(max_abs_diff(one.mask_tokens[0], all.mask_tokens[q]), 1e-4) << "region " << q;
    EXPECT_LE(max_abs_diff(one.pos_tokens[0], all.pos_tokens[q]), 1e-4) << "region " << q;
  }
  // Different regions must give different tokens.
  EXPECT_GT(max_abs_diff(all.mask_tokens[0], all.mask_tokens[31]), 1e-3);
  EXPECT_GT(max_abs_diff(all.pos_tokens[0], all.pos_tokens[31]), 1e-3);
}

TEST_F(RealisticExtractor, Bfloat16FeaturesGiveFiniteFloat32Tokens) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> bf16;
  for (const auto& f : *features_) bf16.push_back(f.to(torch::kBFloat16));
  const auto out = (*extractor_)->forward(bf16, masks_->slice(0, 5, 6));
  ASSERT_EQ(out.mask_tokens.sizes(), (std::vector<int64_t>{1, 4096}));
  EXPECT_EQ(out.mask_tokens.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::isfinite(out.mask_tokens).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(out.pos_tokens).all().item<bool>());
}

TEST(MaskExtractorInput, RejectsBadShapesAndDevices) {
  MaskExtractor ex(std::vector<int64_t>{4, 8}, 6, 5, 4, torch::TensorOptions());
  for (auto& p : ex->parameters()) p.data().zero_();
  const std::vector<torch::Tensor> good{torch::zeros({1, 4, 8, 8}), torch::zeros({1, 8, 4, 4})};
  const auto masks = torch::ones({2, 16, 16}, torch::kUInt8);
  EXPECT_EQ(ex->forward(good, masks).mask_tokens.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(ex->forward(good, masks.slice(0, 0, 0)).pos_tokens.sizes(),
            (std::vector<int64_t>{0, 5}));

  const auto shape_error = [&](const std::vector<torch::Tensor>& f, const torch::Tensor& m) {
    try {
      ex->forward(f, m);
    } catch (const ShapeError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "expected a ShapeError";
    return std::string();
  };
  EXPECT_THAT(shape_error({good[0]}, masks), HasSubstr("expected 2 feature maps"));
  EXPECT_THAT(shape_error({good[0], torch::zeros({1, 7, 4, 4})}, masks),
              HasSubstr("res3 must be [1, 8, h, w], got [1, 7, 4, 4]"));
  EXPECT_THAT(shape_error({torch::zeros({2, 4, 8, 8}), good[1]}, masks),
              HasSubstr("res2 must be [1, 4, h, w], got [2, 4, 8, 8]"));
  EXPECT_THAT(shape_error({good[0], torch::zeros({8, 4, 4})}, masks), HasSubstr("res3 must be"));
  EXPECT_THAT(shape_error(good, torch::ones({16, 16})), HasSubstr("masks must be [Q, H, W]"));
  EXPECT_THAT(shape_error(good, torch::ones({2, 16, 16}, torch::Device(torch::kMeta))),
              HasSubstr("masks are on meta but the feature maps on cpu"));
  EXPECT_THAT(shape_error({good[0], torch::zeros({1, 8, 4, 4}, torch::Device(torch::kMeta))},
                          masks),
              HasSubstr("feature maps are on different devices"));
}

TEST(MaskExtractorInput, RejectsBadConfiguration) {
  EXPECT_THROW(MaskExtractor(std::vector<int64_t>{}, 6, 5, 4, torch::TensorOptions()),
               ArgumentError);
  EXPECT_THROW(MaskExtractor(std::vector<int64_t>{4}, 6, 5, 0, torch::TensorOptions()),
               ArgumentError);
  EXPECT_THROW(MaskExtractor(std::vector<int64_t>{4, 0}, 6, 5, 4, torch::TensorOptions()),
               ArgumentError);
}

}  // namespace
}  // namespace regionlm::test
