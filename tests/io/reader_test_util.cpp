#include "reader_test_util.hpp"

#include <fstream>
#include <sstream>

#include "test_util.hpp"

namespace fs = std::filesystem;

namespace regionlm::test {

namespace {
torch::ScalarType dtype_from_python(const std::string& name) {
  static const std::map<std::string, torch::ScalarType> table{
      {"float64", torch::kFloat64},      {"float32", torch::kFloat32},
      {"float16", torch::kFloat16},      {"bfloat16", torch::kBFloat16},
      {"float8_e4m3fn", torch::kFloat8_e4m3fn}, {"float8_e5m2", torch::kFloat8_e5m2},
      {"int64", torch::kInt64},          {"int32", torch::kInt32},
      {"int16", torch::kInt16},          {"int8", torch::kInt8},
      {"uint64", torch::kUInt64},        {"uint32", torch::kUInt32},
      {"uint16", torch::kUInt16},        {"uint8", torch::kUInt8},
      {"bool", torch::kBool}};
  return table.at(name);
}

std::string to_hex(const torch::Tensor& t) {
  const torch::Tensor bytes = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(bytes.data_ptr());
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int64_t i = 0; i < bytes.numel() * bytes.element_size(); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}
}  // namespace

const fs::path& reference_checkpoints() {
  // ctest runs every test in its own process: share one generated set per script version
  // across processes (written to a private directory, then renamed into place atomically).
  static const fs::path dir = [] {
    const std::string script = "tests/io/write_checkpoints.py";
    const size_t version = std::hash<std::string>{}(read_bytes(source_dir() / script));
    const fs::path staging = scratch_dir("io-reference-staging");
    const fs::path final_dir = staging.parent_path() / ("io-reference-" + std::to_string(version));
    if (fs::exists(final_dir / "expected.json")) {
      fs::remove_all(staging);
      return final_dir;
    }
    run_python(script, {staging.string()});
    std::error_code ec;
    fs::rename(staging, final_dir, ec);  // fails harmlessly when another process won the race
    if (ec) fs::remove_all(staging);
    return final_dir;
  }();
  return dir;
}

const nlohmann::json& reference_expected() {
  static const nlohmann::json expected = nlohmann::json::parse(read_bytes(reference_checkpoints() / "expected.json"));
  return expected;
}

void expect_matches(const std::string& name, const torch::Tensor& tensor, const nlohmann::json& expected) {
  ASSERT_TRUE(tensor.defined()) << name;
  EXPECT_EQ(tensor.device(), torch::kCPU) << name;
  EXPECT_EQ(tensor.scalar_type(), dtype_from_python(expected["dtype"].get<std::string>())) << name;
  EXPECT_EQ(tensor.sizes().vec(), expected["shape"].get<std::vector<int64_t>>()) << name;
  EXPECT_EQ(to_hex(tensor), expected["hex"].get<std::string>()) << name;
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << file;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string safetensors_image(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace regionlm::test
