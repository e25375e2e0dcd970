// torch.save zip checkpoints: every dtype, views and shared storages, pickle protocols, and
// malformed archives/pickles (crafted by write_hostile_checkpoints.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "reader_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using regionlm::FormatError;
using namespace regionlm::test;

namespace {

const fs::path& hostile_dir() {
  static const fs::path dir = [] {
    const fs::path out = scratch_dir("io-hostile");
    run_python("tests/io/write_hostile_checkpoints.py", {out.string()});
    return out;
  }();
  return dir;
}

const torch::Tensor kSix = torch::arange(6, torch::kFloat32);

}  // namespace

TEST(TorchCheckpoint, ReadsEveryDtypeWrittenByTorchSave) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "all_dtypes.bin");
  const auto& expected = reference_expected();
  ASSERT_EQ(weights.size(), expected["tensors"].size() + expected["bin_extra"].size());
  for (const char* group : {"tensors", "bin_extra"}) {
    for (const auto& [name, info] : expected[group].items()) {
      ASSERT_TRUE(weights.contains(name)) << name;
      expect_matches(name, weights.get(name), info);
    }
  }
}

TEST(TorchCheckpoint, ViewsKeepStridesAndShareStorage) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "all_dtypes.bin");
  const auto base = weights.get("view.base");
  const auto transposed = weights.get("view.transposed");
  const auto sliced = weights.get("view.sliced");
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_EQ(transposed.strides().vec(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(sliced.storage_offset(), 8);
  EXPECT_TRUE(torch::equal(transposed, base.t()));
  EXPECT_TRUE(torch::equal(sliced, base.slice(0, 1, 3).slice(1, 2, 5)));
  EXPECT_EQ(base.data_ptr(), transposed.data_ptr());  // one mapped storage, no copies
}

TEST(TorchCheckpoint, Protocol4ModuleStateDict) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "linear_p4.bin");
  const auto& expected = reference_expected()["linear"];
  ASSERT_EQ(weights.names(), (std::vector<std::string>{"bias", "weight"}));
  for (const auto& [name, info] : expected.items()) expect_matches(name, weights.get(name), info);
}

TEST(TorchCheckpoint, ShardedWithIndex) {
  const fs::path dir = reference_checkpoints() / "sharded_bin";
  for (const fs::path& path : {dir, dir / "pytorch_model.bin.index.json"}) {
    const auto weights = regionlm::load_weights(path);
    const auto& expected = reference_expected()["tensors"];
    ASSERT_EQ(weights.size(), expected.size());
    for (const auto& [name, info] : expected.items()) expect_matches(name, weights.get(name), info);
  }
}

TEST(TorchCheckpoint, HandmadeVariants) {
  // Cross-checked against torch.load when written: plain, ZIP64 structures, the old
  // 4-argument _rebuild_tensor, and a view with a storage offset.
  EXPECT_TRUE(torch::equal(regionlm::load_weights(hostile_dir() / "handmade.bin").get("w"), kSix.reshape({2, 3})));
  EXPECT_TRUE(torch::equal(regionlm::load_weights(hostile_dir() / "zip64.bin").get("w"), kSix.reshape({2, 3})));
  EXPECT_TRUE(torch::equal(regionlm::load_weights(hostile_dir() / "old_rebuild.bin").get("w"), kSix.reshape({2, 3}).t()));
  EXPECT_TRUE(torch::equal(regionlm::load_weights(hostile_dir() / "offset_view.bin").get("w"), torch::tensor({1.0f, 3.0f})));
}

TEST(TorchCheckpointValidation, EveryCraftedFileIsRejectedWithItsReason) {
  const auto expected = nlohmann::json::parse(read_bytes(hostile_dir() / "expected.json"));
  int rejected = 0;
  for (const auto& [file, reason] : expected.items()) {
    if (reason == "ok") continue;
    const fs::path path = hostile_dir() / file;
    expect_error<FormatError>([&] { regionlm::load_weights(path); }, {file, reason.get<std::string>()});
    ++rejected;
  }
  EXPECT_GE(rejected, 20);
  EXPECT_FALSE(fs::exists(hostile_dir() / "pwned")) << "a pickled os.system call was executed";
}

TEST(TorchCheckpointValidation, RejectsEveryTruncation) {
  const std::string full = read_bytes(reference_checkpoints() / "linear_p4.bin");
  const fs::path file = scratch_dir("bin-truncated") / "t.bin";
  for (size_t length = 0; length < full.size(); length += 3) {
    write_bytes(file, full.substr(0, length));
    EXPECT_THROW(regionlm::load_weights(file), regionlm::Error) << "length " << length;
  }
}

TEST(TorchCheckpointValidation, CorruptedBytesNeverCrash) {
  // Every byte of the zip structures and the pickle, overwritten: loads or throws an Error.
  const std::string full = read_bytes(reference_checkpoints() / "linear_p4.bin");
  const fs::path file = scratch_dir("bin-fuzz") / "f.bin";
  const unsigned char replacements[] = {0x00, 0xff, 0x7f, 0x80, 'X', '(', 0x94, 0x8a};
  int rejected = 0;
  for (size_t pos = 0; pos < full.size(); ++pos) {
    std::string corrupted = full;
    corrupted[pos] = static_cast<char>(replacements[pos % sizeof(replacements)]);
    write_bytes(file, corrupted);
    try {
      const auto weights = regionlm::load_weights(file);
      for (const auto& name : weights.names()) weights.get(name).sum();
    } catch (const regionlm::Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}
