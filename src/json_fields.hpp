#pragma once
// Typed reads of JSON configuration objects (internal): every config.json / CLIP config parser
// in the library reads its fields through JsonFields, so absent-key defaults and the wording of
// errors ("<file>: 'key.sub' must be ..., found ...") are the same everywhere.
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "json_depth.hpp"
#include "regionlm/error.hpp"

namespace regionlm {

/// Typed access to one JSON object; every error names the file and the dotted key path.
class JsonFields {
 public:
  using json = nlohmann::json;

  JsonFields(const json& object, std::string source, std::string path = "")
      : object_(object), source_(std::move(source)), path_(std::move(path)) {}

  // Absent and null keys keep the default, as transformers does for None.
  bool has(const char* key) const { return object_.contains(key) && !object_[key].is_null(); }

  int64_t integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_number_integer()) fail(key, "an integer", v);
    return v.get<int64_t>();
  }
  int64_t positive(const char* key, int64_t fallback) const {
    const int64_t v = integer(key, fallback);
    if (v <= 0) fail(key, "a positive integer", object_[key]);
    return v;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_number()) fail(key, "a number", v);
    return v.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_boolean()) fail(key, "true or false", v);
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_string()) fail(key, "a string", v);
    return v.get<std::string>();
  }
  std::vector<std::string> string_list(const char* key) const {
    if (!has(key)) return {};
    const json& v = object_[key];
    if (!v.is_array()) fail(key, "a list of strings", v);
    std::vector<std::string> out;
    for (const json& item : v) {
      if (!item.is_string()) fail(key, "a list of strings", v);
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::vector<int64_t> positive_list(const char* key, const std::vector<int64_t>& fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_array() || v.empty()) fail(key, "a non-empty list of positive integers", v);
    std::vector<int64_t> out;
    for (const json& item : v) {
      if (!item.is_number_integer() || item.get<int64_t>() <= 0) {
        fail(key, "a non-empty list of positive integers", v);
      }
      out.push_back(item.get<int64_t>());
    }
    return out;
  }
  std::array<float, 3> triple(const char* key, const std::array<float, 3>& fallback) const {
    if (!has(key)) return fallback;
    const json& v = object_[key];
    if (!v.is_array() || v.size() != 3) fail(key, "a list of 3 numbers", v);
    std::array<float, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number()) fail(key, "a list of 3 numbers", v);
      out[i] = v[i].get<float>();
    }
    return out;
  }
  // A nested object, or nullopt when absent/null.
  std::optional<JsonFields> object(const char* key) const {
    if (!has(key)) return std::nullopt;
    if (!object_[key].is_object()) fail(key, "an object", object_[key]);
    return JsonFields(object_[key], source_, name(key));
  }
  const json& raw(const char* key) const { return object_[key]; }

  [[noreturn]] void fail(const char* key, const std::string& expected, const json& found) const {
    throw ConfigError(source_ + ": '" + name(key) + "' must be " + expected + ", found " + found.dump());
  }
  [[noreturn]] void fail(const char* key, const std::string& problem) const {
    throw ConfigError(source_ + ": '" + name(key) + "' " + problem);
  }
  /// "file" or "file: 'path'": where this object is, for messages about it as a whole.
  std::string where() const { return path_.empty() ? source_ : source_ + ": '" + path_ + "'"; }

 private:
  std::string name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  const json& object_;
  std::string source_;
  std::string path_;
};

/// Parses JSON text whose top level must be an object; ConfigError naming `source` otherwise
/// (also for nesting deeper than limits::kMaxJsonDepth).
inline nlohmann::json parse_json_object(const std::string& text, const std::string& source) {
  nlohmann::json root;
  try {
    root = parse_json_depth_limited<ConfigError>(text, source);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(source + ": expected a JSON object at the top level");
  return root;
}

/// The text of `file_or_dir` (a file, or a directory's config.json); `file` receives the path
/// read. IoError when it cannot be opened or read.
inline std::string read_config_text(const std::filesystem::path& file_or_dir, std::filesystem::path& file) {
  file = std::filesystem::is_directory(file_or_dir) ? file_or_dir / "config.json" : file_or_dir;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open config " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError("cannot read config " + file.string());
  return text.str();
}

}  // namespace regionlm
