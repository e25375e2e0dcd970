#include "manifest.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "regionlm/error.hpp"
#include "sha256.hpp"

namespace fs = std::filesystem;

namespace regionlm::tiny_shapes {
namespace {

constexpr const char* kFormat = "regionlm-manifest-1";

}  // namespace

void write_manifest(const fs::path& dir, const std::vector<std::string>& files,
                    const std::vector<std::pair<std::string, std::string>>& info) {
  nlohmann::ordered_json doc;
  doc["format"] = kFormat;
  doc["info"] = nlohmann::ordered_json::object();
  for (const auto& [key, value] : info) doc["info"][key] = value;
  doc["files"] = nlohmann::ordered_json::array();
  for (const std::string& name : files) {
    const fs::path file = dir / name;
    if (!fs::is_regular_file(file)) throw IoError("cannot list " + file.string() + " in the manifest: no such file");
    doc["files"].push_back(
        {{"path", name}, {"bytes", fs::file_size(file)}, {"sha256", sha256_file_hex(file)}});
  }
  const fs::path out = dir / kManifestFile;
  std::ofstream stream(out);
  stream << doc.dump(2) << "\n";
  if (!stream) throw IoError("cannot write " + out.string());
}

std::vector<ManifestEntry> verify_manifest(const fs::path& dir) {
  const fs::path manifest = dir / kManifestFile;
  std::ifstream in(manifest);
  if (!in) throw IoError("model directory " + dir.string() + " has no readable " + kManifestFile);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(manifest.string() + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object() || doc.value("format", "") != kFormat || !doc.contains("files") ||
      !doc["files"].is_array()) {
    throw FormatError(manifest.string() + ": expected an object with \"format\": \"" + kFormat +
                      "\" and a \"files\" array");
  }
  std::vector<ManifestEntry> entries;
  for (const auto& item : doc["files"]) {
    if (!item.is_object() || !item.contains("path") || !item["path"].is_string() ||
        !item.contains("bytes") || !item["bytes"].is_number_unsigned() ||
        !item.contains("sha256") || !item["sha256"].is_string()) {
      throw FormatError(manifest.string() + ": every \"files\" entry needs \"path\" (string), "
                        "\"bytes\" (unsigned) and \"sha256\" (string), got " + item.dump());
    }
    ManifestEntry e{item["path"].get<std::string>(), item["bytes"].get<uint64_t>(),
                    item["sha256"].get<std::string>()};
    const fs::path file = dir / e.path;
    if (!fs::is_regular_file(file)) {
      throw IoError(file.string() + " is listed in " + manifest.string() + " but does not exist");
    }
    const uint64_t size = fs::file_size(file);
    if (size != e.bytes) {
      throw FormatError(file.string() + " has " + std::to_string(size) + " bytes but " +
                        manifest.string() + " lists " + std::to_string(e.bytes) +
                        ": the file is truncated, corrupted or not the one shipped");
    }
    const std::string digest = sha256_file_hex(file);
    if (digest != e.sha256) {
      throw FormatError(file.string() + " has SHA-256 " + digest + " but " + manifest.string() +
                        " lists " + e.sha256 + ": the file is corrupted or not the one shipped");
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace regionlm::tiny_shapes
