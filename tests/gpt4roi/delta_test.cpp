// scripts/apply_gpt4roi_delta.py on a small random base and delta: every tensor is exactly
// delta + base (embed_tokens / lm_head: only the base's rows), mm_projector / spi_module are
// copied, shapes and names that do not fit are refused naming the tensor; the sums are
// recomputed here with LibTorch from the inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "regionlm/io/weights.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

namespace fs = std::filesystem;

const fs::path& fixture() {
  static const fs::path dir = [] {
    const fs::path d = scratch_dir("gpt4roi-delta");
    run_python("tests/gpt4roi/delta_fixture.py", {d.string()});
    return d;
  }();
  return dir;
}

std::pair<int, std::string> merge(const std::string& delta, const fs::path& target, const std::string& dtype,
                                  const std::string& base = "base") {
  const std::string command = shell_quote(python()) + " " + shell_quote((source_dir() / "scripts/apply_gpt4roi_delta.py").string()) +
                              " --base " + shell_quote((fixture() / base).string()) + " --delta " +
                              shell_quote((fixture() / delta).string()) + " --target " + shell_quote(target.string()) +
                              " --dtype " + dtype + " --max-shard-gb 0.0000005";
  return run_command(command);
}

void expect_exact_merge(const std::string& dtype, torch::ScalarType type) {
  const fs::path target = scratch_dir("gpt4roi-merged-" + dtype) / "out";
  const auto [rc, output] = merge("delta", target, dtype);
  ASSERT_EQ(rc, 0) << output;
  const Weights base = load_weights(fixture() / "base");
  const Weights delta = load_weights(fixture() / "delta");
  const Weights merged = load_weights(target);
  ASSERT_EQ(merged.names(), delta.names());
  int summed = 0, copied = 0, padded = 0;
  for (const auto& name : delta.names()) {
    SCOPED_TRACE(name);
    const torch::Tensor got = merged.get(name);
    ASSERT_EQ(got.scalar_type(), type);
    torch::Tensor expected = delta.get(name).to(type).clone();
    if (base.contains(name)) {
      const torch::Tensor b = base.get(name).to(type);
      expected.narrow(0, 0, b.size(0)).add_(b);
      if (b.size(0) != expected.size(0)) {
        ++padded;
        // The added tokens' rows are the delta's own values.
        EXPECT_TRUE(torch::equal(got.narrow(0, b.size(0), got.size(0) - b.size(0)),
                                 delta.get(name).to(type).narrow(0, b.size(0), got.size(0) - b.size(0))));
      }
      ++summed;
    } else {
      ++copied;
    }
    EXPECT_TRUE(torch::equal(got, expected));
  }
  EXPECT_EQ(padded, 2);  // embed_tokens and lm_head
  EXPECT_EQ(copied, 4);  // mm_projector weight/bias, two spi_module tensors
  EXPECT_GT(summed, 10);
  EXPECT_TRUE(fs::exists(target / "tokenizer.model"));
  EXPECT_TRUE(fs::exists(target / "added_tokens.json"));
  EXPECT_TRUE(fs::exists(target / "model.safetensors.index.json"));
}

TEST(Gpt4roiDelta, MergeIsExactlyBasePlusDeltaInFloat32) { expect_exact_merge("float32", torch::kFloat32); }

TEST(Gpt4roiDelta, MergeIsExactlyBasePlusDeltaInFloat16) { expect_exact_merge("float16", torch::kFloat16); }

TEST(Gpt4roiDelta, RotaryBuffersTheBaseLacksAreSkipped) {
  const fs::path target = scratch_dir("gpt4roi-merged-no-inv-freq") / "out";
  const auto [rc, output] = merge("delta", target, "float32", "base_no_inv_freq");
  ASSERT_EQ(rc, 0) << output;
  const Weights delta = load_weights(fixture() / "delta");
  const Weights merged = load_weights(target);
  std::vector<std::string> expected;
  for (const auto& name : delta.names()) {
    if (name.find("rotary_emb.inv_freq") == std::string::npos) expected.push_back(name);
  }
  EXPECT_EQ(merged.names(), expected);
  EXPECT_LT(merged.names().size(), delta.names().size());
}

TEST(Gpt4roiDelta, MismatchedShapeIsRefusedNamingTheTensor) {
  const fs::path target = scratch_dir("gpt4roi-merged-bad-shape") / "out";
  const auto [rc, output] = merge("bad_shape", target, "float32");
  EXPECT_NE(rc, 0);
  EXPECT_NE(output.find("model.layers.1.self_attn.k_proj.weight"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(target / "model.safetensors.index.json"));
}

TEST(Gpt4roiDelta, UnknownTensorIsRefusedNamingIt) {
  const fs::path target = scratch_dir("gpt4roi-merged-bad-name") / "out";
  const auto [rc, output] = merge("bad_name", target, "float32");
  EXPECT_NE(rc, 0);
  EXPECT_NE(output.find("model.vision_tower.extra.weight"), std::string::npos) << output;
}

}  // namespace
}  // namespace regionlm::test
