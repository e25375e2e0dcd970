#include "common/answer_json.hpp"

namespace regionlm::examples {

nlohmann::json mentions_json(const Answer& answer) {
  nlohmann::json out = nlohmann::json::array();
  for (const RegionMention& m : answer.mentions) {
    out.push_back({{"region", m.region + 1}, {"offset", m.offset}, {"length", m.length}});
  }
  return out;
}

}  // namespace regionlm::examples
