#pragma once
// SHA-256 (FIPS 180-4), for the model manifest. Small and dependency-free: the project does
// not otherwise link a crypto library.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace regionlm::tiny_shapes {

/// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  /// Feeds `size` bytes.
  void update(const void* data, size_t size);
  /// The digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;  // bytes waiting in buffer_
  uint64_t length_ = 0;  // total bytes fed
};

/// Lower-case hex digest of a byte string.
std::string sha256_hex(const std::string& bytes);
/// Lower-case hex digest of a file, read in blocks. Throws IoError when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& file);

}  // namespace regionlm::tiny_shapes
