// scripts/convert_checkpoint.py: a published-layout checkpoint whose vision trunk lives in a
// separate CLIP file becomes self-contained safetensors shards that Model::load reads and that
// answer exactly like the original; a dtype conversion rounds every floating weight and nothing else;
// a checkpoint without any trunk is refused with a message saying what to pass.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "pipeline_test_util.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/osprey.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

namespace fs = std::filesystem;


std::pair<int, std::string> convert(const fs::path& src, const fs::path& dst,
                                    const std::vector<std::string>& options = {}) {
  // Built with a stream: GCC 12 warns falsely (-Wstringop-overflow) on chained concatenation.
  std::ostringstream command;
  command << shell_quote(python()) << ' '
          << shell_quote((source_dir() / "scripts" / "convert_checkpoint.py").string()) << ' '
          << shell_quote(src.string()) << ' ' << shell_quote(dst.string());
  for (const auto& o : options) command << ' ' << shell_quote(o);
  return run_command(command.str());
}

// The original's tensors: the shards plus the CLIP file's trunk under Osprey's prefix.
std::map<std::string, torch::Tensor> original_tensors() {
  std::map<std::string, torch::Tensor> out;
  const Weights shards = load_weights(reference().model_clipfile);
  for (const auto& name : shards.names()) out[name] = shards.get(name);
  const Weights clip = load_weights(reference().model_clipfile / "clip" / "open_clip_pytorch_model.bin");
  for (const auto& name : clip.names_with_prefix(osprey_keys::kClipTrunk)) {
    out[osprey_keys::kTrunk + name.substr(std::string(osprey_keys::kClipTrunk).size())] = clip.get(name);
  }
  return out;
}

TEST(ConvertCheckpoint, SelfContainedShardsAnswerLikeTheOriginal) {
  const fs::path out = scratch_dir("convert-f32") / "osprey";
  // A tiny shard limit forces several shards and an index, as for a 7B model.
  const auto [code, text] = convert(reference().model_clipfile, out, {"--max-shard-gb", "0.0001"});
  ASSERT_EQ(code, 0) << text;
  ASSERT_TRUE(fs::exists(out / "model.safetensors.index.json")) << text;
  EXPECT_FALSE(fs::exists(out / "clip"));  // the CLIP file's trunk is inside the shards now

  const Weights converted = load_weights(out);
  const auto original = original_tensors();
  ASSERT_EQ(converted.names().size(), original.size());
  for (const auto& [name, tensor] : original) {
    ASSERT_TRUE(converted.contains(name)) << name;
    const torch::Tensor got = converted.get(name);
    EXPECT_EQ(got.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(got, tensor)) << name;
  }

  // No mm_vision_tower file needed any more: the trunk comes from the checkpoint.
  const Model model = Model::load(out, cpu());
  const auto& c = reference().find_case("three_regions");
  EXPECT_EQ(model.describe(reference().image, reference().regions(c["regions"]), c["prompt"],
                           greedy(c["max_new_tokens"]))
                .tokens,
            reference().ids("three_regions.tokens"));
}

// The reference's shards are bfloat16 and its CLIP trunk float32, so float16 rounds both and
// bfloat16 rounds the trunk.
TEST(ConvertCheckpoint, ToAnotherDtypeRoundsEveryFloatingWeightOnly) {
  const auto original = original_tensors();
  for (const auto& [flag, dtype] : {std::pair{"bfloat16", torch::kBFloat16}, std::pair{"float16", torch::kHalf}}) {
    SCOPED_TRACE(flag);
    const fs::path out = scratch_dir(std::string("convert-") + flag) / "osprey";
    const auto [code, text] = convert(reference().model_clipfile, out, {"--dtype", flag});
    ASSERT_EQ(code, 0) << text;
    const Weights converted = load_weights(out);
    for (const auto& [name, tensor] : original) {
      const torch::Tensor got = converted.get(name);
      if (!tensor.is_floating_point()) {
        EXPECT_TRUE(torch::equal(got, tensor)) << name;
        continue;
      }
      EXPECT_EQ(got.scalar_type(), dtype) << name;
      EXPECT_TRUE(torch::equal(got, tensor.to(dtype))) << name;
    }
    std::ifstream config(out / "config.json");
    EXPECT_EQ(nlohmann::json::parse(config).at("torch_dtype"), flag);
    EXPECT_NO_THROW(Model::load(out, cpu()));
  }
}

TEST(ConvertCheckpoint, MissingTrunkIsRefusedWithWhatToPass) {
  // The clip-file checkpoint without its clip/ folder: no trunk anywhere.
  const fs::path src = scratch_dir("convert-no-trunk") / "osprey";
  fs::create_directories(src);
  for (const auto& entry : fs::directory_iterator(reference().model_clipfile)) {
    if (entry.is_regular_file()) fs::copy_file(entry.path(), src / entry.path().filename());
  }
  const auto [code, text] = convert(src, scratch_dir("convert-no-trunk-out") / "osprey");
  EXPECT_NE(code, 0);
  EXPECT_NE(text.find("--vision-tower"), std::string::npos) << text;

  // Naming the CLIP file explicitly works.
  const auto [code2, text2] = convert(src, scratch_dir("convert-with-tower") / "osprey",
                                      {"--vision-tower", (reference().model_clipfile / "clip").string()});
  EXPECT_EQ(code2, 0) << text2;

  const auto [code3, text3] = convert(scratch_dir("convert-empty"), scratch_dir("convert-empty-out"));
  EXPECT_NE(code3, 0);
  EXPECT_NE(text3.find("config.json"), std::string::npos) << text3;
}

}  // namespace
}  // namespace regionlm::test
