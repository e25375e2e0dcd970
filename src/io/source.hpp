#pragma once
// One opened checkpoint file: a memory mapping plus a table describing where each tensor's
// bytes lie in it. Both file formats (safetensors, torch.save zip) reduce to this table, so
// bounds checking and tensor creation live in one place.
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"
#include "regionlm/io/weights.hpp"

namespace regionlm::io {

/// Where and how one tensor is stored: a strided view into a byte range ("storage").
struct StoredTensor {
  c10::ScalarType dtype = c10::ScalarType::Float;  // element type
  std::vector<int64_t> shape;                      // sizes
  std::vector<int64_t> strides;                    // in elements
  int64_t storage_offset = 0;                      // first element, in elements
  uint64_t storage_begin = 0;                      // byte offset of the storage in the file
  uint64_t storage_bytes = 0;                      // byte length of the storage
};

/// Row-major strides for `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

/// `a * b` for sizes read from a file; throws FormatError (naming `what`) on overflow.
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what);
/// `a + b`, likewise.
uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what);

}  // namespace regionlm::io

namespace regionlm {

class Weights::Source {
 public:
  /// Validates every entry against the file (storage inside the file, view inside its
  /// storage, non-negative sizes and strides) and throws FormatError naming file and tensor.
  Source(std::shared_ptr<const io::MappedFile> file,
         std::map<std::string, io::StoredTensor> tensors);

  const std::filesystem::path& path() const { return file_->path(); }
  const std::map<std::string, io::StoredTensor>& tensors() const { return tensors_; }
  /// The tensor `name` (which must be in `tensors()`), aliasing the mapping when aligned.
  torch::Tensor load(const std::string& name) const;
  /// Drops the resident pages of `name`'s storage (Weights::release_pages).
  void release(const std::string& name) const;

 private:
  std::shared_ptr<const io::MappedFile> file_;
  std::map<std::string, io::StoredTensor> tensors_;
};

}  // namespace regionlm
