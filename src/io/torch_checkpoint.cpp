#include "io/torch_checkpoint.hpp"

#include "io/unpickler.hpp"
#include "io/zip_archive.hpp"
#include "regionlm/error.hpp"

namespace regionlm::io {

namespace {

// torch.save puts every record under one top-level folder ("archive/" in current versions,
// the file's stem in older ones): find it through `<folder>/data.pkl`.
std::string archive_folder(const ZipArchive& zip, const std::string& source) {
  std::string folder;
  for (const auto& entry : zip.records()) {
    const std::string& name = entry.first;
    if (!name.ends_with("/data.pkl") || name.find('/') != name.size() - 9) continue;
    if (!folder.empty()) throw FormatError(source + ": several data.pkl records; not a torch.save file");
    folder = name.substr(0, name.size() - 8);
  }
  if (folder.empty()) throw FormatError(source + ": zip archive without <folder>/data.pkl; not a torch.save file");
  return folder;
}

}  // namespace

std::shared_ptr<const Weights::Source> open_torch_checkpoint(const std::filesystem::path& file) {
  auto mapped = std::make_shared<const MappedFile>(file);
  const std::string source = file.string();
  const ZipArchive zip(mapped->data(), mapped->size(), source);
  const std::string folder = archive_folder(zip, source);

  const auto byteorder = zip.records().find(folder + "byteorder");
  if (byteorder != zip.records().end()) {
    const auto& record = zip.stored(byteorder->first);
    const std::string order(reinterpret_cast<const char*>(mapped->data() + record.data_offset), record.size);
    if (order != "little") throw FormatError(source + ": byteorder '" + order + "' unsupported (little-endian only)");
  }

  const auto& pickle = zip.stored(folder + "data.pkl");
  const auto tensors = unpickle_state_dict(mapped->data() + pickle.data_offset, pickle.size, source);
  std::map<std::string, StoredTensor> entries;
  for (const auto& [name, pickled] : tensors) {
    const auto& record = zip.stored(folder + "data/" + pickled.storage_key);
    if (record.size < pickled.storage_bytes) {
      throw FormatError(source + ": tensor '" + name + "': storage record " + pickled.storage_key + " has " +
                        std::to_string(record.size) + " bytes, the pickle declares " +
                        std::to_string(pickled.storage_bytes));
    }
    StoredTensor entry;
    entry.dtype = pickled.dtype;
    entry.shape = pickled.shape;
    entry.strides = pickled.strides;
    entry.storage_offset = pickled.storage_offset;
    entry.storage_begin = record.data_offset;
    entry.storage_bytes = pickled.storage_bytes;
    entries.emplace(name, std::move(entry));
  }
  return std::make_shared<const Weights::Source>(std::move(mapped), std::move(entries));
}

}  // namespace regionlm::io
