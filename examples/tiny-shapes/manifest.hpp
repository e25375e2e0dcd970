#pragma once
// A model directory's manifest: every shipped file with its size and SHA-256, so that a
// corrupted, truncated or swapped file is caught with a clear message before it is loaded.
//
// manifest.json:
//   {"format": "regionlm-manifest-1",
//    "info": {"trainer": "regionlm-train-tiny", "seed": "1", ...},
//    "files": [{"path": "config.json", "bytes": 1234, "sha256": "ab12..."}, ...]}
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace regionlm::tiny_shapes {

/// Name of the manifest inside a model directory.
inline constexpr const char* kManifestFile = "manifest.json";

/// One listed file.
struct ManifestEntry {
  std::string path;    // relative to the model directory
  uint64_t bytes = 0;  // file size
  std::string sha256;  // lower-case hex digest
};

/// Hashes `files` (paths relative to `dir`) and writes dir/manifest.json with `info`
/// (free-form provenance: trainer, command, seed). Throws IoError for an unreadable file.
void write_manifest(const std::filesystem::path& dir, const std::vector<std::string>& files,
                    const std::vector<std::pair<std::string, std::string>>& info);

/// Checks every file listed in dir/manifest.json and returns the entries.
/// Throws IoError when the manifest or a listed file is missing, FormatError when the
/// manifest is malformed or a file's size or SHA-256 differs from it (the message names the
/// file, both digests and says that the file is corrupted or not the one shipped).
std::vector<ManifestEntry> verify_manifest(const std::filesystem::path& dir);

}  // namespace regionlm::tiny_shapes
