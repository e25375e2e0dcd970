#include "gpt4roi_reference_data.hpp"

#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>

#include "test_util.hpp"

namespace fs = std::filesystem;

namespace regionlm::test {
namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Changes whenever a reference script changes.
std::string version_tag() {
  std::string scripts;
  for (const char* name : {"tests/gpt4roi/gpt4roi_reference.py", "tests/gpt4roi/tiny_gpt4roi.py"}) {
    scripts += read_file(source_dir() / name);
  }
  return std::to_string(std::hash<std::string>{}(scripts));
}

Gpt4roiReference load(const fs::path& dir) {
  Gpt4roiReference data;
  data.dir = dir;
  std::ifstream in(dir / "cases.json");
  data.root = nlohmann::json::parse(in);
  data.model = dir / data.root.at("model").get<std::string>();
  data.clip = dir / data.root.at("clip").get<std::string>();
  data.image = dir / data.root.at("image").get<std::string>();
  data.tensors = load_weights(dir / "reference.safetensors");
  return data;
}

}  // namespace

const nlohmann::json& Gpt4roiReference::find_case(const std::string& name) const {
  for (const auto& c : cases()) {
    if (c.at("name") == name) return c;
  }
  throw std::runtime_error("no GPT4RoI reference case named " + name);
}

std::vector<int64_t> Gpt4roiReference::ids(const std::string& key) const {
  const torch::Tensor t = tensor(key).to(torch::kInt64).contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

std::vector<std::array<double, 4>> Gpt4roiReference::boxes(const nlohmann::json& c) const {
  std::vector<std::array<double, 4>> out;
  for (const auto& b : c.at("boxes_px")) out.push_back(b.get<std::array<double, 4>>());
  return out;
}

const Gpt4roiReference& gpt4roi_reference() {
  static const Gpt4roiReference data = [] {
    const fs::path work = scratch_dir("gpt4roi-reference-build");
    const fs::path final_dir = work.parent_path() / ("gpt4roi-reference-" + version_tag());
    if (!fs::exists(final_dir / "cases.json")) {
      run_python("tests/gpt4roi/gpt4roi_reference.py", {work.string()});
      std::error_code ec;  // a concurrent test process may have published first: use its copy
      fs::rename(work, final_dir, ec);
    }
    fs::remove_all(work);
    return load(final_dir);
  }();
  return data;
}

}  // namespace regionlm::test
