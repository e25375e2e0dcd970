#include "regionlm/io/weights.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_map>

#include "io/safetensors.hpp"
#include "io/source.hpp"
#include "io/strict_json.hpp"
#include "io/torch_checkpoint.hpp"
#include "regionlm/error.hpp"

namespace fs = std::filesystem;

namespace regionlm {

struct Weights::Impl {
  fs::path origin;
  std::vector<std::shared_ptr<const Source>> sources;
  std::vector<std::string> names;  // sorted
  std::unordered_map<std::string, const Source*> where;
};

namespace {

const Weights::Impl& empty_impl() {
  static const Weights::Impl impl;
  return impl;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError("cannot read " + file.string());
  return text;
}

// One file, by content: torch.save zips start with a zip local header ("PK\3\4"), anything
// else is read as safetensors (whose first 8 bytes are a length, not a magic number).
std::shared_ptr<const Weights::Source> open_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open " + file.string());
  char magic[4] = {};
  in.read(magic, sizeof(magic));
  const bool is_zip = in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
  // Pre-1.6 torch.save files open with the pickled magic number: PROTO 2, LONG1 of 10 bytes.
  const bool is_legacy_pickle = in.gcount() == 4 && static_cast<unsigned char>(magic[0]) == 0x80 &&
                                magic[1] == 2 && static_cast<unsigned char>(magic[2]) == 0x8a &&
                                magic[3] == 10;
  if (is_zip) return io::open_torch_checkpoint(file);
  if (is_legacy_pickle) {
    throw FormatError(file.string() + ": legacy (pre-1.6, non-zip) torch.save format is not supported; "
                      "re-save it with a current torch.save");
  }
  return io::open_safetensors(file);
}

// Shards listed by an HF index: {"metadata": {...}, "weight_map": {"tensor": "shard file"}}.
Weights::Impl open_index(const fs::path& index_file) {
  const std::string text = read_text(index_file);
  const nlohmann::json root = io::parse_strict_json(text.data(), text.data() + text.size(), index_file.string());
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object()) {
    throw FormatError(index_file.string() + ": expected an object with a 'weight_map' object");
  }
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : root["weight_map"].items()) {
    if (!shard.is_string()) {
      throw FormatError(index_file.string() + ": weight_map entry '" + tensor + "' is not a string");
    }
    const fs::path shard_path(shard.get<std::string>());
    if (shard_path.empty() || shard_path.is_absolute() ||
        std::any_of(shard_path.begin(), shard_path.end(), [](const fs::path& p) { return p == ".."; })) {
      throw FormatError(index_file.string() + ": weight_map entry '" + tensor +
                        "' names shard '" + shard_path.string() + "', not a file beside the index");
    }
    weight_map.emplace(tensor, shard_path.string());
    shard_names.insert(shard_path.string());
  }
  Weights::Impl impl;
  std::map<std::string, const Weights::Source*> shard_sources;
  const fs::path dir = index_file.parent_path();
  for (const std::string& shard : shard_names) {
    const fs::path path = dir / shard;
    if (!fs::is_regular_file(path)) {
      const auto example = std::find_if(weight_map.begin(), weight_map.end(),
                                        [&](const auto& kv) { return kv.second == shard; });
      throw FormatError(index_file.string() + ": weight_map names shard '" + shard + "' (e.g. for '" +
                        example->first + "') but " + path.string() + " does not exist");
    }
    impl.sources.push_back(open_file(path));
    shard_sources[shard] = impl.sources.back().get();
  }
  for (const auto& [tensor, shard] : weight_map) {
    if (!shard_sources[shard]->tensors().count(tensor)) {
      throw FormatError(index_file.string() + ": weight_map puts '" + tensor + "' in shard '" + shard +
                        "', which does not contain it");
    }
  }
  return impl;
}

// Builds the name index over all sources; a name in two shards is a FormatError.
void index_names(Weights::Impl& impl) {
  for (const auto& source : impl.sources) {
    for (const auto& entry : source->tensors()) {
      const auto [it, inserted] = impl.where.emplace(entry.first, source.get());
      if (!inserted) {
        throw FormatError(impl.origin.string() + ": tensor '" + entry.first + "' appears in both " +
                          it->second->path().string() + " and " + source->path().string());
      }
      impl.names.push_back(entry.first);
    }
  }
  std::sort(impl.names.begin(), impl.names.end());
}

}  // namespace

Weights load_weights(const fs::path& file_or_dir) {
  std::error_code ec;
  if (!fs::exists(file_or_dir, ec)) throw IoError("checkpoint not found: " + file_or_dir.string());
  Weights::Impl impl;
  if (fs::is_directory(file_or_dir)) {
    // Preference order: sharded before single-file, safetensors before torch .bin.
    const char* candidates[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json",
                                "model.safetensors", "pytorch_model.bin"};
    fs::path found;
    for (const char* name : candidates) {
      if (fs::is_regular_file(file_or_dir / name)) {
        found = file_or_dir / name;
        break;
      }
    }
    if (found.empty()) {
      throw IoError("no checkpoint in directory " + file_or_dir.string() +
                    " (looked for model.safetensors[.index.json], pytorch_model.bin[.index.json])");
    }
    if (found.string().ends_with(".index.json")) {
      impl = open_index(found);
    } else {
      impl.sources.push_back(open_file(found));
    }
  } else if (file_or_dir.string().ends_with(".index.json")) {
    impl = open_index(file_or_dir);
  } else {
    impl.sources.push_back(open_file(file_or_dir));
  }
  impl.origin = file_or_dir;
  index_names(impl);
  Weights weights;
  weights.impl_ = std::make_shared<const Weights::Impl>(std::move(impl));
  return weights;
}

Weights::Weights() = default;

const std::vector<std::string>& Weights::names() const {
  return (impl_ ? *impl_ : empty_impl()).names;
}

bool Weights::contains(const std::string& name) const {
  return impl_ && impl_->where.count(name) > 0;
}

namespace {
const Weights::Source& source_of(const Weights::Impl* impl, const std::string& name) {
  if (impl) {
    const auto it = impl->where.find(name);
    if (it != impl->where.end()) return *it->second;
  }
  throw WeightError("tensor '" + name + "' not found in checkpoint " +
                    (impl ? impl->origin.string() : std::string("(empty)")));
}
}  // namespace

void Weights::release_pages(const std::string& name) const {
  if (!impl_) return;
  if (const auto it = impl_->where.find(name); it != impl_->where.end()) it->second->release(name);
}

torch::Tensor Weights::get(const std::string& name) const {
  return source_of(impl_.get(), name).load(name);
}

torch::Tensor Weights::get(const std::string& name, const torch::Device& device,
                           torch::ScalarType dtype) const {
  return get(name).to(device, dtype);
}

std::vector<int64_t> Weights::shape(const std::string& name) const {
  return source_of(impl_.get(), name).tensors().at(name).shape;
}

torch::ScalarType Weights::dtype(const std::string& name) const {
  return source_of(impl_.get(), name).tensors().at(name).dtype;
}

fs::path Weights::file_of(const std::string& name) const {
  return source_of(impl_.get(), name).path();
}

const fs::path& Weights::origin() const {
  return (impl_ ? *impl_ : empty_impl()).origin;
}

std::vector<std::string> Weights::names_with_prefix(const std::string& prefix) const {
  const auto& all = names();
  // Sorted names: the prefix's matches form one contiguous run.
  auto first = std::lower_bound(all.begin(), all.end(), prefix);
  std::vector<std::string> out;
  for (auto it = first; it != all.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(*it);
  }
  return out;
}

size_t Weights::size() const { return names().size(); }

}  // namespace regionlm
