// The shipped models/tiny-shapes on a CUDA device (label `cuda`; skipped, and reported as
// skipped, where no GPU is present — scripts/gpu_check.sh runs them on a lent one):
// float32 on the GPU gives the CPU's answers; describe_each's shared-prefix batch gives
// describe's answers there too; bfloat16 on the GPU still answers the scenes right.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "regionlm/model.hpp"
#include "scene.hpp"
#include "test_util.hpp"

namespace ts = regionlm::tiny_shapes;

namespace {

struct Asked {
  ts::Scene scene;
  std::vector<regionlm::Region> regions;
};

std::vector<Asked> scenes(uint64_t first, uint64_t count) {
  std::vector<Asked> out;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    Asked a{ts::generate_scene(seed, ts::SceneOptions{}), {}};
    for (const auto& o : a.scene.objects) a.regions.push_back(regionlm::Region::from_mask(o.mask));
    out.push_back(std::move(a));
  }
  return out;
}

regionlm::Model load(const std::string& device, const std::string& dtype, bool reuse_prefix = true) {
  regionlm::LoadOptions options;
  options.device = device;
  options.dtype = dtype;
  options.reuse_image_prefix = reuse_prefix;
  return regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes", options);
}

}  // namespace

TEST(TinyCuda, Float32AnswersEqualTheCpus) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const regionlm::Model cpu = load("cpu", "float32");
  const regionlm::Model gpu = load("cuda", "float32");
  ASSERT_TRUE(gpu.device().is_cuda());
  int asked = 0;
  for (const Asked& a : scenes(7000, 20)) {
    const auto on_cpu = cpu.encode(a.scene.image);
    const auto on_gpu = gpu.encode(a.scene.image);
    for (size_t k = 0; k < a.regions.size(); ++k) {
      for (const char* question : {"What is <region1>?", "What color is <region1>?"}) {
        const auto expected = cpu.describe(on_cpu, {a.regions[k]}, question);
        const auto answer = gpu.describe(on_gpu, {a.regions[k]}, question);
        EXPECT_EQ(answer.tokens, expected.tokens) << question << " region " << k << ": \"" << answer.text
                                                  << "\" vs CPU \"" << expected.text << "\"";
        ++asked;
      }
    }
  }
  std::cout << asked << " questions, float32 CUDA vs CPU\n";
}

TEST(TinyCuda, DescribeEachEqualsDescribeOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const regionlm::Model gpu = load("cuda", "float32", /*reuse_prefix=*/false);
  for (const Asked& a : scenes(7100, 10)) {
    const auto image = gpu.encode(a.scene.image);
    const auto each = gpu.describe_each(image, a.regions, "What is <region>?");
    ASSERT_EQ(each.size(), a.regions.size());
    for (size_t k = 0; k < a.regions.size(); ++k) {
      EXPECT_EQ(each[k].tokens, gpu.describe(image, {a.regions[k]}, "What is <region>?").tokens) << "region " << k;
    }
  }
}

TEST(TinyCuda, SecondQuestionReusingThePrefixEqualsAFreshOne) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const regionlm::Model reuse = load("cuda", "float32", true);
  const regionlm::Model fresh = load("cuda", "float32", false);
  for (const Asked& a : scenes(7200, 10)) {
    const auto image = reuse.encode(a.scene.image);
    const auto plain = fresh.encode(a.scene.image);
    for (size_t k = 0; k < a.regions.size(); ++k) {
      EXPECT_EQ(reuse.describe(image, {a.regions[k]}, "What color is <region1>?").tokens,
                fresh.describe(plain, {a.regions[k]}, "What color is <region1>?").tokens);
    }
  }
}

TEST(TinyCuda, Bfloat16AnswersTheScenes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const regionlm::Model gpu = load("cuda", "bfloat16");
  ASSERT_EQ(gpu.dtype(), torch::kBFloat16);
  int asked = 0, right = 0;
  for (const Asked& a : scenes(7300, 40)) {
    const auto image = gpu.encode(a.scene.image);
    const auto answers = gpu.describe_each(image, a.regions, "What is <region>?");
    for (size_t k = 0; k < answers.size(); ++k) {
      const auto& o = a.scene.objects[k];
      right += answers[k].text == ts::describe_object(o.color, o.shape);
      ++asked;
    }
  }
  std::cout << right << " / " << asked << " right in bfloat16 on CUDA\n";
  EXPECT_GE(right, 0.9 * asked);
}
