#include "reference_run.hpp"

#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
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

}  // namespace

fs::path ReferenceRun::path(const std::string& key) const { return dir / root.at(key).get<std::string>(); }

const nlohmann::json& ReferenceRun::find_case(const std::string& name) const {
  for (const auto& c : root.at("cases")) {
    if (c.at("name") == name) return c;
  }
  throw std::runtime_error("no reference case named " + name + " in " + (dir / "cases.json").string());
}

std::vector<int64_t> ReferenceRun::ids(const std::string& key) const {
  const torch::Tensor t = tensor(key).to(torch::kInt64).contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

ReferenceRun reference_run(const std::string& name, const std::vector<std::string>& scripts,
                           const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& script : scripts) text += read_file(source_dir() / script);
  // scratch_dir's parent is the build tree's test scratch root.
  const fs::path work = scratch_dir(name + "-build");
  const fs::path final_dir = work.parent_path() / (name + "-" + std::to_string(std::hash<std::string>{}(text)));
  if (!fs::exists(final_dir / "cases.json")) {
    std::vector<std::string> command{work.string()};
    command.insert(command.end(), args.begin(), args.end());
    run_python(scripts.front(), command);
    std::error_code ec;  // a concurrent test process may have published first: use its copy
    fs::rename(work, final_dir, ec);
  }
  fs::remove_all(work);
  ReferenceRun run;
  run.dir = final_dir;
  std::ifstream in(final_dir / "cases.json");
  run.root = nlohmann::json::parse(in);
  run.tensors = load_weights(final_dir / "reference.safetensors");
  return run;
}

}  // namespace regionlm::test
