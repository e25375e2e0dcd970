#pragma once
// Hugging Face safetensors: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data section that the offsets are relative to.
#include <filesystem>
#include <memory>

#include "io/source.hpp"

namespace regionlm::io {

/// Largest header accepted; real headers are a few hundred kB even for 7B models.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1000 * 1000;

/// Maps and validates a safetensors file (see docs/io.md for the rules enforced).
std::shared_ptr<const Weights::Source> open_safetensors(const std::filesystem::path& file);

}  // namespace regionlm::io
