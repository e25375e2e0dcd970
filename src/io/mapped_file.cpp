#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::io {

namespace {
std::string system_error(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}
}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(system_error("cannot open", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string message = system_error("cannot stat", path);
    ::close(fd);
    throw IoError(message);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError("not a regular file: " + path.string());
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    // MAP_PRIVATE + PROT_WRITE: stray writes through an aliasing tensor stay private.
    // MAP_NORESERVE: several 10 GB shards must not count against the commit limit.
    void* mapped = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
                          fd, 0);
    if (mapped == MAP_FAILED) {
      const std::string message = system_error("cannot memory-map", path);
      ::close(fd);
      throw IoError(message);
    }
    data_ = static_cast<uint8_t*>(mapped);
  }
  ::close(fd);  // the mapping keeps the file alive
}

void MappedFile::release(uint64_t offset, uint64_t bytes) const {
  if (!data_ || offset >= size_) return;
  const uint64_t end = offset + std::min<uint64_t>(bytes, size_ - offset);  // never past the file
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t first = (offset + page - 1) / page * page;  // whole pages only: neighbours may share the edges
  const uint64_t last = end / page * page;
  if (last > first) ::madvise(data_ + first, last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

}  // namespace regionlm::io
