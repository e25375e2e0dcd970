#pragma once
// Nesting limit for every JSON document read from outside (configs, checkpoint headers and
// indexes, tokenizer files, server requests). nlohmann_json parses iteratively, but dump()
// (used in error messages) and readers that walk values recurse, so "[[[[..." 100 000 deep
// would overflow the stack; documents deeper than limits::kMaxJsonDepth are refused while
// parsing.
#include <nlohmann/json.hpp>

#include <string>

#include "regionlm/limits.hpp"

namespace regionlm {

/// Whether a parser callback event opens a container at `depth` (containers already open
/// around it) beyond limits::kMaxJsonDepth.
inline bool json_too_deep(int depth, nlohmann::json::parse_event_t event) {
  using event_t = nlohmann::json::parse_event_t;
  return (event == event_t::object_start || event == event_t::array_start) && depth >= limits::kMaxJsonDepth;
}

/// The error text for a document nested too deeply; `source` names the file or field.
inline std::string json_depth_message(const std::string& source) {
  return source + ": JSON nested deeper than " + std::to_string(limits::kMaxJsonDepth) +
         " levels (limits::kMaxJsonDepth)";
}

/// Parses `text` (a std::string, string_view or istream) with the depth limit: Exception
/// (a regionlm::Error subclass) naming `source` when it is exceeded. Syntax errors are
/// nlohmann's parse_error, for the caller to wrap.
template <typename Exception, typename Input>
nlohmann::json parse_json_depth_limited(Input&& text, const std::string& source) {
  const nlohmann::json::parser_callback_t limit = [&source](int depth, nlohmann::json::parse_event_t event,
                                                           nlohmann::json&) {
    if (json_too_deep(depth, event)) throw Exception(json_depth_message(source));
    return true;
  };
  return nlohmann::json::parse(std::forward<Input>(text), limit);
}

}  // namespace regionlm
