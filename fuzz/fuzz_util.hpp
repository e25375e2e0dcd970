#pragma once
// Helpers shared by the fuzz targets.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace regionlm::fuzz {

/// Writes the input to this process's scratch file `name` (in $REGIONLM_FUZZ_TMPDIR, else
/// /dev/shm, else /tmp) and returns
/// its path: the checkpoint and config readers take paths (they map or stream the file).
std::filesystem::path write_scratch(const std::string& name, const uint8_t* data, size_t size);

}  // namespace regionlm::fuzz
