#include "fuzz_util.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace regionlm::fuzz {

std::filesystem::path write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    // A RAM file system: on a disk-backed /tmp the write alone made the file readers 7x slower.
    const char* tmp = std::getenv("REGIONLM_FUZZ_TMPDIR");
    std::error_code ec;
    const std::filesystem::path base = tmp && *tmp                                  ? tmp
                                       : std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                                                                                       : "/tmp";
    std::filesystem::path d = base / ("regionlm-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  const std::filesystem::path file = dir / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return file;
}

}  // namespace regionlm::fuzz
