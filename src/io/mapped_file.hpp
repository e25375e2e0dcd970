#pragma once
// A whole file mapped into memory, private and copy-on-write: tensors can alias the mapping
// without copying, and a caller that writes into such a tensor changes only its own pages
// (never the file, never a crash on a read-only page).
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace regionlm::io {

class MappedFile {
 public:
  /// Maps `path`; throws IoError when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  /// Writable view of the private mapping (writes are copy-on-write, the file is untouched).
  uint8_t* mutable_data() const { return data_; }
  size_t size() const { return size_; }
  /// Drops the whole pages inside bytes [offset, offset + bytes) from this process's resident
  /// memory (madvise MADV_DONTNEED; the page cache keeps them, a later read faults them back
  /// in from the file). For ranges nothing reads any more; writes into them are lost.
  /// Out-of-range parts are ignored; advisory, never fails.
  void release(uint64_t offset, uint64_t bytes) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace regionlm::io
