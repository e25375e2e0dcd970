// The shipped models/tiny-shapes: its manifest matches, it loads with Model::load in Osprey's
// checkpoint layout, and a corrupted, truncated, swapped or missing file is caught with an
// error naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/model.hpp"
#include "sha256.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;
using regionlm::test::error_of;
using regionlm::test::scratch_dir;
using regionlm::test::source_dir;

namespace {

fs::path shipped() { return source_dir() / "models" / "tiny-shapes"; }

fs::path copy_of_shipped(const std::string& name) {
  const fs::path dir = scratch_dir(name) / "tiny-shapes";
  fs::copy(shipped(), dir, fs::copy_options::recursive);
  return dir;
}

void flip_byte(const fs::path& file, std::streamoff offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x01));
}


}  // namespace

TEST(TinyModel, Sha256MatchesFips180Vectors) {
  EXPECT_EQ(ts::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ts::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ts::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(ts::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TinyModel, ShippedFilesMatchTheManifest) {
  const auto entries = ts::verify_manifest(shipped());
  std::set<std::string> names;
  uint64_t bytes = 0;
  for (const auto& e : entries) {
    names.insert(e.path);
    bytes += e.bytes;
  }
  EXPECT_EQ(names, (std::set<std::string>{"config.json", "tokenizer.model", "added_tokens.json",
                                          "model.safetensors"}));
  EXPECT_LE(bytes, 20u * 1000 * 1000) << "the shipped model must stay within 20 MB";
}

// The same layout and keys as a published Osprey checkpoint, consumed entirely by Model::load.
TEST(TinyModel, LoadsAsAnOspreyCheckpoint) {
  const regionlm::Weights weights = regionlm::load_weights(shipped());
  for (const char* key : {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                          "model.norm.weight", "lm_head.weight", "model.mm_projector.0.weight",
                          "model.mm_projector.2.bias", "mask_extractor.res2.weight",
                          "mask_extractor.feat_linear.weight", "mask_extractor.mask_linear.layers.2.bias",
                          "model.vision_tower.vision_tower.visual.trunk.stem.0.weight",
                          "model.vision_tower.vision_tower.visual.trunk.stages.3.blocks.0.gamma"}) {
    EXPECT_TRUE(weights.contains(key)) << key;
  }
  const regionlm::Model model = regionlm::Model::load(shipped());
  EXPECT_TRUE(model.unused_keys().empty());
  const regionlm::OspreyConfig& config = model.config();
  EXPECT_EQ(config.vision.image_size, 128);  // the model's input size comes from its config
  EXPECT_EQ(model.tokenizer().mask_id(), config.text.vocab_size);
  EXPECT_EQ(model.tokenizer().pos_id(), config.text.vocab_size + 1);
  EXPECT_EQ(model.conversation_template(), "osprey_v1");
}

TEST(TinyModel, FlippedByteIsCaughtAndNamed) {
  const fs::path dir = copy_of_shipped("tiny-flipped");
  flip_byte(dir / "model.safetensors", static_cast<std::streamoff>(fs::file_size(dir / "model.safetensors") / 2));
  const std::string message = error_of<regionlm::FormatError>([&] { ts::verify_manifest(dir); });
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("SHA-256"), std::string::npos) << message;
  EXPECT_NE(message.find("corrupted"), std::string::npos) << message;
}

TEST(TinyModel, TruncatedFileIsCaughtAndNamed) {
  const fs::path dir = copy_of_shipped("tiny-truncated");
  const fs::path file = dir / "tokenizer.model";
  fs::resize_file(file, fs::file_size(file) - 10);
  const std::string message = error_of<regionlm::FormatError>([&] { ts::verify_manifest(dir); });
  EXPECT_NE(message.find("tokenizer.model"), std::string::npos) << message;
  EXPECT_NE(message.find("bytes"), std::string::npos) << message;
}

// Same size, other content: added tokens with their ids swapped.
TEST(TinyModel, MismatchedFileIsCaughtAndNamed) {
  const fs::path dir = copy_of_shipped("tiny-swapped");
  const regionlm::Model model = regionlm::Model::load(shipped());
  const int64_t mask = model.tokenizer().mask_id(), pos = model.tokenizer().pos_id();
  std::ofstream(dir / "added_tokens.json")
      << "{\n  \"<mask>\": " << pos << ",\n  \"<pos>\": " << mask << "\n}\n";
  ASSERT_EQ(fs::file_size(dir / "added_tokens.json"), fs::file_size(shipped() / "added_tokens.json"));
  const std::string message = error_of<regionlm::FormatError>([&] { ts::verify_manifest(dir); });
  EXPECT_NE(message.find("added_tokens.json"), std::string::npos) << message;
}

TEST(TinyModel, MissingFileOrManifestIsAnIoError) {
  const fs::path dir = copy_of_shipped("tiny-missing");
  fs::remove(dir / "config.json");
  EXPECT_NE(error_of<regionlm::IoError>([&] { ts::verify_manifest(dir); }).find("config.json"),
            std::string::npos);
  fs::remove(dir / ts::kManifestFile);
  EXPECT_NE(error_of<regionlm::IoError>([&] { ts::verify_manifest(dir); }).find(ts::kManifestFile),
            std::string::npos);
}

// The trainer's --verify mode (what the README tells users to run) fails loudly too.
TEST(TinyModel, VerifyCommandReportsCorruption) {
  const auto [ok_code, ok_output] =
      regionlm::test::run_command(std::string(REGIONLM_TRAIN_TINY_BIN) + " --verify " +
                                  regionlm::test::shell_quote(shipped().string()) + " --eval-scenes 0");
  EXPECT_EQ(ok_code, 0) << ok_output;
  const fs::path dir = copy_of_shipped("tiny-cli");
  flip_byte(dir / "config.json", 10);
  const auto [code, output] = regionlm::test::run_command(
      std::string(REGIONLM_TRAIN_TINY_BIN) + " --verify " + regionlm::test::shell_quote(dir.string()));
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("config.json"), std::string::npos) << output;
}
