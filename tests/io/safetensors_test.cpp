// safetensors: values written by the Python reference, files written by save_safetensors,
// and every validation rule on crafted files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <string>

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

// One F32 tensor "a" of 2 elements: a minimal valid file to corrupt.
const std::string kTwoFloats = std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);  // 1.0f, 2.0f

fs::path crafted(const std::string& header, const std::string& data) {
  const fs::path file = scratch_dir("safetensors-crafted") / "crafted.safetensors";
  write_bytes(file, safetensors_image(header, data));
  return file;
}

void expect_format_error(const std::string& header, const std::string& data,
                         std::initializer_list<std::string> parts) {
  const fs::path file = crafted(header, data);
  expect_error<FormatError>([&] { regionlm::load_weights(file); }, parts);
}

}  // namespace

TEST(Safetensors, ReadsEveryDtypeWrittenByPython) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "all_dtypes.safetensors");
  const auto& expected = reference_expected()["tensors"];
  ASSERT_EQ(weights.size(), expected.size());
  for (const auto& [name, info] : expected.items()) {
    ASSERT_TRUE(weights.contains(name)) << name;
    expect_matches(name, weights.get(name), info);
    EXPECT_EQ(weights.shape(name), info["shape"].get<std::vector<int64_t>>()) << name;
  }
  EXPECT_TRUE(std::is_sorted(weights.names().begin(), weights.names().end()));
}

TEST(Safetensors, MetadataIsReadWithoutTensors) {
  const auto metadata = regionlm::safetensors_metadata(reference_checkpoints() / "all_dtypes.safetensors");
  const std::vector<std::pair<std::string, std::string>> expected{{"format", "pt"}, {"note", "regionlm"}};
  EXPECT_EQ(metadata, expected);
}

TEST(Safetensors, GetConvertsToRequestedDtype) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "all_dtypes.safetensors");
  const auto f32 = weights.get("f32");
  const auto converted = weights.get("f64", torch::kCPU, torch::kFloat32);
  EXPECT_EQ(converted.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(converted.nan_to_num(0, 1, -1), f32.nan_to_num(0, 1, -1)));
  EXPECT_EQ(weights.dtype("bf16"), torch::kBFloat16);
  EXPECT_EQ(weights.file_of("bf16"), reference_checkpoints() / "all_dtypes.safetensors");
}

TEST(Safetensors, WritesAreCopyOnWriteAndNeverReachTheFile) {
  const fs::path file = scratch_dir("safetensors-cow") / "w.safetensors";
  regionlm::save_safetensors(file, {{"w", torch::arange(6, torch::kFloat32)}});
  const std::string before = read_bytes(file);
  const auto weights = regionlm::load_weights(file);
  auto aliased = weights.get("w");
  aliased.fill_(-7.0f);  // no crash: the mapping is private and writable
  // The write stays in this process's private pages: the file and new mappings are untouched.
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_TRUE(torch::equal(regionlm::load_weights(file).get("w"), torch::arange(6, torch::kFloat32)));
}

/// This process's resident file-backed memory (RssFile in /proc/self/status), bytes.
int64_t resident_file_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8)) * 1024;
  }
  return -1;
}

// After a layer copied a weight into its own layout (int8, oneDNN), release_pages drops the
// file's pages of that tensor from resident memory; its neighbour stays, and reading the
// tensor again still gives the stored values.
TEST(Safetensors, ReleasedPagesLeaveResidentMemoryAndReadBackTheSame) {
  const fs::path file = scratch_dir("safetensors-release") / "w.safetensors";
  const auto big = torch::arange(16 << 20, torch::kFloat32);  // 64 MiB
  regionlm::save_safetensors(file, {{"big", big}, {"small", torch::ones({8})}});
  const auto weights = regionlm::load_weights(file);
  ASSERT_TRUE(torch::equal(weights.get("big"), big));  // every page read: resident
  const int64_t before = resident_file_bytes();
  ASSERT_GT(before, 0) << "no RssFile in /proc/self/status";
  weights.release_pages("big");
  const int64_t after = resident_file_bytes();
  EXPECT_GT(before - after, 60 << 20) << "resident file bytes " << before << " -> " << after;
  EXPECT_TRUE(torch::equal(weights.get("small"), torch::ones({8})));
  EXPECT_TRUE(torch::equal(weights.get("big"), big));  // faulted back in from the file
  weights.release_pages("no such tensor");               // ignored
}

TEST(Safetensors, SaveRoundTripsThroughPython) {
  const fs::path dir = scratch_dir("safetensors-save");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const auto reference = regionlm::load_weights(reference_checkpoints() / "all_dtypes.safetensors");
  for (const auto& name : reference.names()) tensors.emplace_back(name, reference.get(name));
  tensors.emplace_back("strided", torch::arange(12, torch::kInt64).reshape({3, 4}).t());
  regionlm::save_safetensors(dir / "ours.safetensors", tensors, {{"k", "v"}});
  const std::string printed =
      run_python("tests/io/describe_safetensors.py", {(dir / "ours.safetensors").string()});
  const auto described = nlohmann::json::parse(printed);
  ASSERT_EQ(described["tensors"].size(), tensors.size());
  for (const auto& [name, tensor] : tensors) expect_matches(name, tensor, described["tensors"][name]);
  EXPECT_EQ(described["metadata"], nlohmann::json({{"k", "v"}}));
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  // An odd header length puts the data section at an odd address.
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string padded = header.size() % 2 ? header : header + " ";
  const auto weights = regionlm::load_weights(crafted(padded, kTwoFloats));
  EXPECT_TRUE(torch::equal(weights.get("a"), torch::tensor({1.0f, 2.0f})));
}

TEST(Safetensors, MissingKeyNamesKeyAndFile) {
  const auto weights = regionlm::load_weights(reference_checkpoints() / "all_dtypes.safetensors");
  expect_error<WeightError>([&] { weights.get("no.such.weight"); }, {"no.such.weight", "all_dtypes.safetensors"});
  expect_error<WeightError>([&] { weights.shape("no.such.weight"); }, {"no.such.weight"});
}

TEST(Safetensors, MissingFileIsIoError) {
  expect_error<IoError>([] { regionlm::load_weights("/nonexistent/x.safetensors"); }, {"/nonexistent/x.safetensors"});
}

TEST(SafetensorsValidation, RejectsHeaderLengthOver100MB) {
  std::string image = safetensors_image("{}", "");
  const uint64_t huge = 100ull * 1000 * 1000 + 1;
  for (int i = 0; i < 8; ++i) image[i] = static_cast<char>((huge >> (8 * i)) & 0xff);
  const fs::path file = scratch_dir("safetensors-huge") / "huge.safetensors";
  write_bytes(file, image);
  expect_error<FormatError>([&] { regionlm::load_weights(file); }, {"huge.safetensors", "exceeds the limit"});
}

TEST(SafetensorsValidation, RejectsHeaderLongerThanFile) {
  std::string image = safetensors_image("{}", "");
  image[0] = 100;  // claims 100 header bytes, has 2
  const fs::path file = scratch_dir("safetensors-long") / "long.safetensors";
  write_bytes(file, image);
  expect_error<FormatError>([&] { regionlm::load_weights(file); }, {"long.safetensors", "past the end"});
}

TEST(SafetensorsValidation, RejectsEveryTruncationOfAValidFile) {
  const fs::path dir = scratch_dir("safetensors-truncated");
  const std::string full = read_bytes(reference_checkpoints() / "all_dtypes.safetensors");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<uint8_t>(full[i])) << (8 * i);
  // Every cut inside the length field and header, then every 5th inside the data section.
  for (size_t length = 0; length < full.size(); length += length < 8 + header_size ? 1 : 5) {
    const fs::path file = dir / "t.safetensors";
    write_bytes(file, full.substr(0, length));
    EXPECT_THROW(regionlm::load_weights(file), FormatError) << "length " << length;
  }
}

TEST(SafetensorsValidation, RejectsBadJson) {
  expect_format_error(R"({"a":{"dtype":"F32",)", kTwoFloats, {"invalid JSON"});
  expect_format_error("{\"a\":\xff}", kTwoFloats, {"invalid JSON"});
}

TEST(SafetensorsValidation, RejectsWrongJsonShape) {
  expect_format_error(R"([1,2,3])", "", {"not a JSON object"});
  expect_format_error(R"({"a":[1]})", kTwoFloats, {"'a'", "not a JSON object"});
  expect_format_error(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", kTwoFloats, {"'a'", "missing 'dtype'"});
  expect_format_error(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", kTwoFloats, {"missing 'shape'"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2]}})", kTwoFloats, {"missing 'data_offsets'"});
  expect_format_error(R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", kTwoFloats, {"'dtype' is not a string"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kTwoFloats, {"shape"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kTwoFloats, {"shape"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kTwoFloats, {"[begin, end]"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kTwoFloats, {"begin > end"});
  expect_format_error(R"({"__metadata__":{"k":1}})", "", {"__metadata__", "'k'"});
  expect_format_error(R"({"__metadata__":[]})", "", {"__metadata__"});
}

TEST(SafetensorsValidation, RejectsUnknownDtype) {
  expect_format_error(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", kTwoFloats,
                      {"'a'", "unknown dtype 'F7'", "BF16"});
}

TEST(SafetensorsValidation, RejectsOffsetsOutsideTheFile) {
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", kTwoFloats,
                      {"'a'", "exceed the data section"});
  expect_format_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})",
                      kTwoFloats, {"'a'"});
}

TEST(SafetensorsValidation, RejectsByteSizeNotMatchingShape) {
  expect_format_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kTwoFloats,
                      {"'a'", "8 bytes stored", "needs 12"});
  expect_format_error(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", kTwoFloats, {"needs 4"});
  // numel * element size overflowing 64 bits must not wrap around to a small size.
  expect_format_error(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "",
                      {"overflow"});
}

TEST(SafetensorsValidation, RejectsOverlappingRanges) {
  expect_format_error(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      kTwoFloats, {"'a'", "'b'", "overlap"});
  expect_format_error(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      kTwoFloats, {"overlap"});
}

TEST(SafetensorsValidation, AcceptsEmptyTensorsAtAnyOffset) {
  const auto weights = regionlm::load_weights(crafted(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}})",
      kTwoFloats));
  EXPECT_EQ(weights.get("e").sizes().vec(), (std::vector<int64_t>{0, 3}));
}

TEST(SafetensorsValidation, RejectsDuplicateNames) {
  expect_format_error(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      kTwoFloats, {"duplicate", "'a'"});
  expect_format_error(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kTwoFloats,
                      {"duplicate", "'dtype'"});
}

TEST(SafetensorsValidation, RejectsBoolBytesOtherThanZeroOrOne) {
  const auto weights = regionlm::load_weights(
      crafted(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x00\x02", 3)));
  expect_error<FormatError>([&] { weights.get("m"); }, {"'m'", "BOOL"});
}

TEST(SafetensorsValidation, CorruptedHeadersNeverCrash) {
  // Single-byte corruptions across a real header either load or throw a regionlm::Error.
  const std::string full = read_bytes(reference_checkpoints() / "all_dtypes.safetensors");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<uint8_t>(full[i])) << (8 * i);
  const fs::path file = scratch_dir("safetensors-fuzz") / "f.safetensors";
  const char replacements[] = {'"', '9', '-', '}', ',', '\0', 'x'};
  int rejected = 0;
  for (size_t pos = 0; pos < 8 + header_size; pos += 2) {
    std::string corrupted = full;
    corrupted[pos] = replacements[pos % sizeof(replacements)];
    write_bytes(file, corrupted);
    try {
      const auto weights = regionlm::load_weights(file);
      for (const auto& name : weights.names()) weights.get(name);
    } catch (const regionlm::Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}
