#include "reference_data.hpp"

#include <opencv2/imgcodecs.hpp>
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

/// Name of the cache directory: changes whenever a reference script changes.
std::string version_tag() {
  std::string scripts;
  for (const char* name : {"tests/pipeline/osprey_reference.py", "tests/pipeline/tiny_osprey.py"}) {
    scripts += read_file(source_dir() / name);
  }
  return std::to_string(std::hash<std::string>{}(scripts));
}

ReferenceData load(const fs::path& dir) {
  ReferenceData data;
  data.dir = dir;
  std::ifstream in(dir / "cases.json");
  const nlohmann::json root = nlohmann::json::parse(in);
  data.model = dir / root.at("model").get<std::string>();
  data.model_clipfile = dir / root.at("model_clipfile").get<std::string>();
  data.image = dir / root.at("image").get<std::string>();
  for (const auto& m : root.at("masks")) data.masks.push_back(dir / m.get<std::string>());
  data.cases = root.at("cases");
  data.tensors = load_weights(dir / "reference.safetensors");
  return data;
}

}  // namespace

std::vector<Region> ReferenceData::regions(const nlohmann::json& indices) const {
  std::vector<Region> out;
  for (const auto& i : indices) {
    out.push_back(Region::from_mask(cv::imread(masks.at(i.get<size_t>()).string(), cv::IMREAD_GRAYSCALE)));
  }
  return out;
}

const nlohmann::json& ReferenceData::find_case(const std::string& name) const {
  for (const auto& c : cases) {
    if (c.at("name") == name) return c;
  }
  throw std::runtime_error("no reference case named " + name);
}

std::vector<int64_t> ReferenceData::ids(const std::string& key) const {
  const torch::Tensor t = tensor(key).to(torch::kInt64).contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

const ReferenceData& reference() {
  static const ReferenceData data = [] {
    // scratch_dir's parent is the build tree's test scratch root.
    const fs::path work = scratch_dir("pipeline-reference-build");
    const fs::path final_dir = work.parent_path() / ("pipeline-reference-" + version_tag());
    if (!fs::exists(final_dir / "cases.json")) {
      run_python("tests/pipeline/osprey_reference.py", {work.string(), "--fixtures", fixtures_dir().string()});
      // Publish atomically: a concurrent test process may have won the race; then use its copy.
      std::error_code ec;
      fs::rename(work, final_dir, ec);
    }
    fs::remove_all(work);
    return load(final_dir);
  }();
  return data;
}

}  // namespace regionlm::test
