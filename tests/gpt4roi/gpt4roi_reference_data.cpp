#include "gpt4roi_reference_data.hpp"

namespace regionlm::test {

std::vector<std::array<double, 4>> Gpt4roiReference::boxes(const nlohmann::json& c) const {
  std::vector<std::array<double, 4>> out;
  for (const auto& b : c.at("boxes_px")) out.push_back(b.get<std::array<double, 4>>());
  return out;
}

const Gpt4roiReference& gpt4roi_reference() {
  static const Gpt4roiReference data = [] {
    Gpt4roiReference d;
    static_cast<ReferenceRun&>(d) =
        reference_run("gpt4roi-reference", {"tests/gpt4roi/gpt4roi_reference.py", "tests/gpt4roi/tiny_gpt4roi.py"});
    d.model = d.path("model");
    d.clip = d.path("clip");
    d.image = d.path("image");
    return d;
  }();
  return data;
}

}  // namespace regionlm::test
