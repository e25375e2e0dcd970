#include "io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "io/dtypes.hpp"
#include "io/strict_json.hpp"
#include "regionlm/error.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors and torch.save data are little-endian; big-endian hosts unsupported");

namespace regionlm::io {

namespace {

using nlohmann::json;

struct Header {
  std::map<std::string, StoredTensor> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Reads a JSON array of non-negative integers; `what` names it in errors.
std::vector<uint64_t> unsigned_array(const json& value, const std::string& what) {
  if (!value.is_array()) throw FormatError(what + ": expected an array of non-negative integers");
  std::vector<uint64_t> out;
  for (const json& item : value) {
    if (!item.is_number_unsigned()) {
      throw FormatError(what + ": expected non-negative integers, found " + item.dump());
    }
    out.push_back(item.get<uint64_t>());
  }
  return out;
}

// Parses and validates the header. `data_begin`/`data_size` describe the data section.
Header parse_header(const json& root, uint64_t data_begin, uint64_t data_size,
                    const std::string& source) {
  if (!root.is_object()) throw FormatError(source + ": header is not a JSON object");
  Header header;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, info] : root.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw FormatError(source + ": __metadata__ is not a JSON object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) {
          throw FormatError(source + ": __metadata__ value of '" + key + "' is not a string");
        }
        header.metadata.emplace_back(key, value.get<std::string>());
      }
      continue;
    }
    const std::string what = source + ": tensor '" + name + "'";
    if (!info.is_object()) throw FormatError(what + ": entry is not a JSON object");
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      if (!info.contains(field)) throw FormatError(what + ": missing '" + field + "'");
    }
    if (!info["dtype"].is_string()) throw FormatError(what + ": 'dtype' is not a string");
    const std::string dtype_name = info["dtype"].get<std::string>();
    const auto dtype = dtype_from_safetensors(dtype_name);
    if (!dtype) {
      throw FormatError(what + ": unknown dtype '" + dtype_name + "' (supported: " +
                        supported_safetensors_dtypes() + ")");
    }
    const std::vector<uint64_t> shape = unsigned_array(info["shape"], what + " shape");
    const std::vector<uint64_t> offsets = unsigned_array(info["data_offsets"], what + " data_offsets");
    if (offsets.size() != 2) throw FormatError(what + ": data_offsets must be [begin, end]");
    if (offsets[0] > offsets[1]) throw FormatError(what + ": data_offsets begin > end");
    if (offsets[1] > data_size) {
      throw FormatError(what + ": data_offsets [" + std::to_string(offsets[0]) + ", " +
                        std::to_string(offsets[1]) + ") exceed the data section of " +
                        std::to_string(data_size) + " bytes (truncated file?)");
    }
    uint64_t numel = 1;
    StoredTensor entry;
    entry.dtype = *dtype;
    for (uint64_t s : shape) {
      if (s > static_cast<uint64_t>(INT64_MAX)) throw FormatError(what + ": dimension too large");
      numel = checked_mul(numel, s, what);
      entry.shape.push_back(static_cast<int64_t>(s));
    }
    const uint64_t bytes = checked_mul(numel, c10::elementSize(*dtype), what);
    if (bytes != offsets[1] - offsets[0]) {
      throw FormatError(what + ": " + std::to_string(offsets[1] - offsets[0]) +
                        " bytes stored but shape x " + dtype_name + " needs " +
                        std::to_string(bytes));
    }
    entry.strides = contiguous_strides(entry.shape);
    entry.storage_begin = data_begin + offsets[0];
    entry.storage_bytes = bytes;
    const auto inserted = header.tensors.emplace(name, std::move(entry));
    ranges.push_back({offsets[0], offsets[1], &inserted.first->first});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  const Range* previous = nullptr;  // the non-empty range reaching furthest so far
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;
    if (previous && r.begin < previous->end) {
      throw FormatError(source + ": tensors '" + *previous->name + "' and '" + *r.name +
                        "' overlap in the data section");
    }
    previous = &r;
  }
  return header;
}

// Maps `file` and parses its header; returns the mapping and the parsed header.
std::pair<std::shared_ptr<const MappedFile>, Header> read_safetensors(const std::filesystem::path& file) {
  auto mapped = std::make_shared<const MappedFile>(file);
  const std::string source = file.string();
  const uint64_t size = mapped->size();
  if (size < 8) throw FormatError(source + ": truncated safetensors file (" + std::to_string(size) + " bytes)");
  const uint64_t header_size = read_u64_le(mapped->data());
  if (header_size > kMaxSafetensorsHeaderBytes) {
    throw FormatError(source + ": header length " + std::to_string(header_size) +
                      " exceeds the limit of " + std::to_string(kMaxSafetensorsHeaderBytes) +
                      " bytes (not a safetensors file?)");
  }
  if (header_size > size - 8) {
    throw FormatError(source + ": header length " + std::to_string(header_size) +
                      " runs past the end of the file (" + std::to_string(size) +
                      " bytes; truncated?)");
  }
  const char* text = reinterpret_cast<const char*>(mapped->data() + 8);
  const json root = parse_strict_json(text, text + header_size, source);
  Header header = parse_header(root, 8 + header_size, size - 8 - header_size, source);
  return {std::move(mapped), std::move(header)};
}

}  // namespace

std::shared_ptr<const Weights::Source> open_safetensors(const std::filesystem::path& file) {
  auto [mapped, header] = read_safetensors(file);
  return std::make_shared<const Weights::Source>(std::move(mapped), std::move(header.tensors));
}

}  // namespace regionlm::io

namespace regionlm {

std::vector<std::pair<std::string, std::string>> safetensors_metadata(
    const std::filesystem::path& file) {
  auto metadata = io::read_safetensors(file).second.metadata;
  std::sort(metadata.begin(), metadata.end());
  return metadata;
}

void save_safetensors(const std::filesystem::path& file,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata) {
  using nlohmann::json;
  // Largest elements first keeps every tensor aligned to its element size without padding
  // (the format forbids holes between tensors).
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw ArgumentError("save_safetensors: tensor '" + name + "' is undefined");
  }
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });

  json header = json::object();
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, tensor] = tensors[i];
    if (name == "__metadata__") throw ArgumentError("save_safetensors: '__metadata__' is reserved");
    if (header.contains(name)) throw ArgumentError("save_safetensors: duplicate tensor name '" + name + "'");
    const auto dtype = io::safetensors_dtype_name(tensor.scalar_type());
    if (!dtype) {
      throw ArgumentError(std::string("save_safetensors: tensor '") + name + "' has dtype " +
                          c10::toString(tensor.scalar_type()) + ", which safetensors cannot store");
    }
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = cpu.numel() * cpu.element_size();
    header[name] = {{"dtype", *dtype}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(cpu));
  }
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cannot open for writing: " + file.string());
  const uint64_t header_size = text.size();
  out.write(reinterpret_cast<const char*>(&header_size), sizeof(header_size));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const torch::Tensor& t : data) {
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  }
  out.close();
  if (!out) throw IoError("error writing " + file.string());
}

}  // namespace regionlm
