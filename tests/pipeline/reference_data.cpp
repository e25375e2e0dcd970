#include "reference_data.hpp"

#include <opencv2/imgcodecs.hpp>

#include "test_util.hpp"

namespace regionlm::test {

std::vector<Region> ReferenceData::regions(const nlohmann::json& indices) const {
  std::vector<Region> out;
  for (const auto& i : indices) {
    out.push_back(Region::from_mask(cv::imread(masks.at(i.get<size_t>()).string(), cv::IMREAD_GRAYSCALE)));
  }
  return out;
}

const ReferenceData& reference() {
  static const ReferenceData data = [] {
    ReferenceData d;
    static_cast<ReferenceRun&>(d) =
        reference_run("pipeline-reference", {"tests/pipeline/osprey_reference.py", "tests/pipeline/tiny_osprey.py"},
                      {"--fixtures", fixtures_dir().string()});
    d.model = d.path("model");
    d.model_clipfile = d.path("model_clipfile");
    d.image = d.path("image");
    for (const auto& m : d.root.at("masks")) d.masks.push_back(d.dir / m.get<std::string>());
    d.cases = d.root.at("cases");
    return d;
  }();
  return data;
}

}  // namespace regionlm::test
