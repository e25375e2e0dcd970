#pragma once
// How the programs write an Answer's region references in JSON (regionlm-describe --json,
// regionlm-chat --json, regionlm-server), one format for all of them.
#include <nlohmann/json.hpp>

#include "regionlm/answer.hpp"

namespace regionlm::examples {

/// The regions an answer names, as Answer::mentions finds them:
/// [{"region": 1-based input region, "offset": byte in the text, "length": bytes}, ...].
nlohmann::json mentions_json(const Answer& answer);

}  // namespace regionlm::examples
