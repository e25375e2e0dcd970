#include "io/strict_json.hpp"

#include <set>
#include <vector>

#include "json_depth.hpp"
#include "regionlm/error.hpp"

namespace regionlm::io {

nlohmann::json parse_strict_json(const char* begin, const char* end, const std::string& source) {
  using nlohmann::json;
  std::vector<std::set<std::string>> open_objects;  // keys seen in each enclosing object
  const json::parser_callback_t track_keys = [&](int depth, json::parse_event_t event, json& value) {
    if (json_too_deep(depth, event)) throw FormatError(json_depth_message(source));
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(value.get<std::string>()).second) {
          throw FormatError(source + ": duplicate JSON key '" + value.get<std::string>() + "'");
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(begin, end, track_keys);
  } catch (const json::exception& e) {
    throw FormatError(source + ": invalid JSON: " + e.what());
  }
}

}  // namespace regionlm::io
