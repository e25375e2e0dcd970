#pragma once
// JSON parsing for untrusted checkpoint headers and indexes: malformed text and duplicate
// object keys (which nlohmann_json would silently resolve to the last one) are FormatErrors.
#include <nlohmann/json.hpp>

#include <string>

namespace regionlm::io {

/// Parses `text`; `source` names the file in error messages.
nlohmann::json parse_strict_json(const char* begin, const char* end, const std::string& source);

}  // namespace regionlm::io
