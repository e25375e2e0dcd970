// Sharded checkpoints (`*.index.json` + `weight_map`) and directory lookup.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "reader_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using regionlm::FormatError;
using regionlm::IoError;
using regionlm::WeightError;
using namespace regionlm::test;

namespace {

void expect_reference_tensors(const regionlm::Weights& weights) {
  const auto& expected = reference_expected()["tensors"];
  ASSERT_EQ(weights.size(), expected.size());
  for (const auto& [name, info] : expected.items()) expect_matches(name, weights.get(name), info);
}

// A copy of a reference shard directory whose index is replaced by `index`.
fs::path with_index(const std::string& shard_dir, const std::string& index_name, const std::string& index) {
  const fs::path dir = scratch_dir("sharded-crafted");
  fs::copy(reference_checkpoints() / shard_dir, dir, fs::copy_options::recursive);
  write_bytes(dir / index_name, index);
  return dir;
}

}  // namespace

TEST(Sharded, SafetensorsDirectoryAndIndexFile) {
  const fs::path dir = reference_checkpoints() / "sharded_safetensors";
  expect_reference_tensors(regionlm::load_weights(dir));
  const auto weights = regionlm::load_weights(dir / "model.safetensors.index.json");
  expect_reference_tensors(weights);
  EXPECT_EQ(weights.origin(), dir / "model.safetensors.index.json");
  EXPECT_EQ(weights.file_of("f32").parent_path(), dir);
}

TEST(Sharded, NamesWithPrefix) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "sharded_safetensors");
  EXPECT_EQ(weights.names_with_prefix("f"),
            (std::vector<std::string>{"f16", "f32", "f64", "f8_e4m3", "f8_e5m2"}));
  EXPECT_EQ(weights.names_with_prefix("model.layers.0."),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight"}));
  EXPECT_TRUE(weights.names_with_prefix("zzz").empty());
}

TEST(Sharded, SingleFileDirectory) {
  const fs::path dir = scratch_dir("single-dir");
  fs::copy_file(reference_checkpoints() / "all_dtypes.safetensors", dir / "model.safetensors");
  expect_reference_tensors(regionlm::load_weights(dir));
}

TEST(Sharded, EmptyDirectoryIsIoError) {
  const fs::path dir = scratch_dir("empty-dir");
  expect_error<IoError>([&] { regionlm::load_weights(dir); }, {dir.string(), "model.safetensors"});
}

TEST(ShardedValidation, RejectsMissingShard) {
  const fs::path dir = with_index("sharded_safetensors", "model.safetensors.index.json",
                                  R"({"weight_map":{"f32":"model-00009-of-00009.safetensors"}})");
  expect_error<FormatError>([&] { regionlm::load_weights(dir); },
                            {"model.safetensors.index.json", "model-00009-of-00009.safetensors", "'f32'"});
}

TEST(ShardedValidation, RejectsKeyAbsentFromItsShard) {
  const fs::path dir = with_index("sharded_safetensors", "model.safetensors.index.json",
                                  R"({"weight_map":{"not.there":"model-00001-of-00002.safetensors"}})");
  expect_error<FormatError>([&] { regionlm::load_weights(dir); }, {"'not.there'", "model-00001-of-00002"});
}

TEST(ShardedValidation, RejectsBadIndexJson) {
  const std::string name = "model.safetensors.index.json";
  expect_error<FormatError>([&] { regionlm::load_weights(with_index("sharded_safetensors", name, "{")); },
                            {name, "invalid JSON"});
  expect_error<FormatError>(
      [&] { regionlm::load_weights(with_index("sharded_safetensors", name, R"({"weight_map":[]})")); },
      {name, "weight_map"});
  expect_error<FormatError>(
      [&] { regionlm::load_weights(with_index("sharded_safetensors", name, R"({"weight_map":{"a":1}})")); },
      {"'a'", "not a string"});
  expect_error<FormatError>(
      [&] {
        regionlm::load_weights(with_index("sharded_safetensors", name,
                                          R"({"weight_map":{"a":"x.safetensors","a":"y.safetensors"}})"));
      },
      {"duplicate", "'a'"});
  expect_error<FormatError>(
      [&] { regionlm::load_weights(with_index("sharded_safetensors", name, R"({"weight_map":{"a":"../x"}})")); },
      {"'../x'"});
}

TEST(ShardedValidation, RejectsNameInTwoShards) {
  const fs::path dir = scratch_dir("sharded-dup");
  regionlm::save_safetensors(dir / "a.safetensors", {{"w", torch::zeros({2})}});
  regionlm::save_safetensors(dir / "b.safetensors", {{"w", torch::ones({2})}});
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map":{"w":"a.safetensors","v":"b.safetensors"}})");
  // "v" is absent from b.safetensors: rejected before the duplicate even matters.
  EXPECT_THROW(regionlm::load_weights(dir), FormatError);
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map":{"w":"a.safetensors","x":"b.safetensors"}})");
  regionlm::save_safetensors(dir / "b.safetensors", {{"w", torch::ones({2})}, {"x", torch::ones({1})}});
  expect_error<FormatError>([&] { regionlm::load_weights(dir); }, {"'w'", "a.safetensors", "b.safetensors"});
}
