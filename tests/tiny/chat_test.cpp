// Any region in any turn, on the shipped model: a chat about two objects of a fresh scene
// asks about one region per turn (what each is, then each one's colour: four turns, as long
// as the model's training conversations). The first question names region 2 only, so the
// library introduces both with Osprey's region header; later turns splice the region they
// name again.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "regionlm/model.hpp"
#include "scene.hpp"
#include "test_util.hpp"

namespace ts = regionlm::tiny_shapes;

TEST(TinyChat, OneRegionPerTurnIsAnsweredAboutThatRegion) {
  torch::set_num_threads(1);  // ctest runs test programs side by side
  const regionlm::Model model = regionlm::Model::load(regionlm::test::source_dir() / "models" / "tiny-shapes");
  int asked = 0, right = 0;
  for (uint64_t seed = 2000; seed < 2060; ++seed) {
    const ts::Scene scene = ts::generate_scene(seed, ts::SceneOptions{});
    if (scene.objects.size() < 2) continue;
    const std::vector<regionlm::Region> regions{regionlm::Region::from_mask(scene.objects[0].mask),
                                                regionlm::Region::from_mask(scene.objects[1].mask)};
    regionlm::ChatSession chat = model.chat(model.encode(scene.image), regions);
    std::vector<std::pair<std::string, std::string>> turns;  // question, expected answer
    for (const bool colour : {false, true}) {
      for (const size_t k : {size_t{1}, size_t{0}}) {
        const ts::SceneObject& o = scene.objects[k];
        const std::string placeholder = "<region" + std::to_string(k + 1) + ">";
        turns.emplace_back((colour ? "What color is " : "What is ") + placeholder + "?",
                           colour ? ts::color_name(o.color) : ts::describe_object(o.color, o.shape));
      }
    }
    for (const auto& [question, expected] : turns) {
      const std::string answer = chat.ask(question).text;
      ++asked;
      if (answer == expected) {
        ++right;
      } else {
        std::cout << "scene " << seed << ": " << question << " -> \"" << answer << "\", expected \"" << expected
                  << "\"\n";
      }
    }
  }
  const double accuracy = static_cast<double>(right) / asked;
  std::cout << "one region per turn: " << right << " / " << asked << " right (" << 100 * accuracy << " %)\n";
  EXPECT_GE(asked, 200);
  EXPECT_GE(accuracy, 0.90);
}
