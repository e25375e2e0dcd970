#include "io/source.hpp"

#include <cstring>

#include "regionlm/error.hpp"

namespace regionlm::io {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<int64_t>(shape[i], 1);
  return strides;
}

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) throw FormatError(what + ": size overflows 64 bits");
  return out;
}

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) throw FormatError(what + ": size overflows 64 bits");
  return out;
}

}  // namespace regionlm::io

namespace regionlm {

using io::checked_add;
using io::checked_mul;

namespace {

// Throws unless the strided view lies inside its storage and inside the file.
void validate_entry(const std::string& what, const io::StoredTensor& t, uint64_t file_size) {
  if (t.storage_begin > file_size || t.storage_bytes > file_size - t.storage_begin) {
    throw FormatError(what + ": data [" + std::to_string(t.storage_begin) + ", +" +
                      std::to_string(t.storage_bytes) + ") lies outside the file (" +
                      std::to_string(file_size) + " bytes; truncated?)");
  }
  if (t.strides.size() != t.shape.size()) {
    throw FormatError(what + ": " + std::to_string(t.shape.size()) + " sizes but " +
                      std::to_string(t.strides.size()) + " strides");
  }
  if (t.storage_offset < 0) throw FormatError(what + ": negative storage offset");
  uint64_t numel = 1;
  uint64_t last = static_cast<uint64_t>(t.storage_offset);  // highest element index touched
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] < 0) throw FormatError(what + ": negative size in dimension " + std::to_string(d));
    if (t.strides[d] < 0) throw FormatError(what + ": negative stride in dimension " + std::to_string(d));
    numel = checked_mul(numel, static_cast<uint64_t>(t.shape[d]), what);
  }
  if (numel == 0) return;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    last = checked_add(last, checked_mul(static_cast<uint64_t>(t.shape[d] - 1),
                                         static_cast<uint64_t>(t.strides[d]), what), what);
  }
  const uint64_t element_size = c10::elementSize(t.dtype);
  const uint64_t needed = checked_mul(checked_add(last, 1, what), element_size, what);
  if (needed > t.storage_bytes) {
    throw FormatError(what + ": view needs " + std::to_string(needed) +
                      " bytes of its storage, which has only " + std::to_string(t.storage_bytes));
  }
}

}  // namespace

Weights::Source::Source(std::shared_ptr<const io::MappedFile> file,
                        std::map<std::string, io::StoredTensor> tensors)
    : file_(std::move(file)), tensors_(std::move(tensors)) {
  for (const auto& [name, entry] : tensors_) {
    validate_entry(file_->path().string() + ": tensor '" + name + "'", entry, file_->size());
  }
}

void Weights::Source::release(const std::string& name) const {
  const io::StoredTensor& t = tensors_.at(name);
  file_->release(t.storage_begin, t.storage_bytes);
}

torch::Tensor Weights::Source::load(const std::string& name) const {
  const io::StoredTensor& t = tensors_.at(name);
  const auto options = torch::TensorOptions().dtype(t.dtype).device(torch::kCPU);
  int64_t numel = 1;
  for (int64_t s : t.shape) numel *= s;
  if (numel == 0) return torch::empty(t.shape, options);

  const size_t element_size = c10::elementSize(t.dtype);
  const int64_t storage_numel = static_cast<int64_t>(t.storage_bytes / element_size);
  uint8_t* bytes = file_->mutable_data() + t.storage_begin;
  if (t.dtype == torch::kBool) {
    // Any byte other than 0/1 is undefined behaviour once read as a C++ bool.
    for (uint64_t i = 0; i < t.storage_bytes; ++i) {
      if (bytes[i] > 1) {
        throw FormatError(path().string() + ": tensor '" + name + "' is BOOL but holds byte " +
                          std::to_string(bytes[i]) + " at element " + std::to_string(i));
      }
    }
  }
  torch::Tensor storage;
  if (reinterpret_cast<uintptr_t>(bytes) % element_size == 0) {
    // The deleter owns a reference to the mapping: it lives as long as any tensor using it.
    auto keep_alive = file_;
    storage = torch::from_blob(bytes, {storage_numel}, [keep_alive](void*) {}, options);
  } else {
    // Misaligned elements (legal in safetensors): copy into an aligned buffer.
    storage = torch::empty({storage_numel}, options);
    std::memcpy(storage.data_ptr(), bytes, static_cast<size_t>(storage_numel) * element_size);
  }
  return storage.as_strided(t.shape, t.strides, t.storage_offset);
}

}  // namespace regionlm
