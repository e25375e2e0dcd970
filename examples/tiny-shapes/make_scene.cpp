// tiny-shapes-scene: writes one tiny-shapes scene to a folder, for demos and for checking
// the generator by eye:
//   image.png            the scene (RGB)
//   mask_<k>.png         object k's visible pixels (0 / 255), k in drawing order
//   scene.json           objects (colour, shape, box, centroid, visible fraction) and every
//                        question with its answer
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "common/arguments.hpp"
#include "regionlm/error.hpp"
#include "scene.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;

namespace {

void write_png(const fs::path& path, const cv::Mat& image) {
  if (!cv::imwrite(path.string(), image)) throw regionlm::IoError("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  using regionlm::examples::ArgumentParser;
  uint64_t seed = 0;
  int64_t size = 128;
  bool heavy = false;
  std::string out_dir;
  ArgumentParser parser("tiny-shapes-scene", "Writes one tiny-shapes scene (image, masks, scene.json) to a folder.");
  parser.option("seed", "N", "scene seed (default 0)", &seed);
  parser.option("out", "DIR", "output folder (created)", &out_dir, /*required=*/true);
  parser.option("size", "PX", "image side in pixels (default 128)", &size);
  parser.flag("heavy-overlap", "clustered, mutually occluding objects", &heavy);
  try {
    if (!parser.parse(argc, argv)) return 0;
    const fs::path out = out_dir;
    ts::SceneOptions options = heavy ? ts::heavy_overlap_options(size) : ts::SceneOptions{};
    options.image_size = static_cast<int>(size);
    const ts::Scene scene = ts::generate_scene(seed, options);
    fs::create_directories(out);
    cv::Mat bgr;
    cv::cvtColor(scene.image, bgr, cv::COLOR_RGB2BGR);
    write_png(out / "image.png", bgr);

    nlohmann::json objects = nlohmann::json::array();
    for (size_t k = 0; k < scene.objects.size(); ++k) {
      const ts::SceneObject& o = scene.objects[k];
      const std::string mask_file = "mask_" + std::to_string(k) + ".png";
      write_png(out / mask_file, o.mask * 255);
      objects.push_back({{"mask", mask_file},
                         {"color", ts::color_name(o.color)},
                         {"shape", ts::shape_name(o.shape)},
                         {"answer", ts::describe_object(o.color, o.shape)},
                         {"box_xyxy", {o.box.x, o.box.y, o.box.x + o.box.width, o.box.y + o.box.height}},
                         {"centroid", {o.centroid.x, o.centroid.y}},
                         {"visible_fraction", o.visible_fraction}});
    }
    nlohmann::json questions = nlohmann::json::array();
    for (const ts::Question& q : ts::all_questions(scene)) {
      questions.push_back({{"kind", ts::question_kind_name(q.kind)},
                           {"prompt", q.prompt},
                           {"answer", q.answer},
                           {"regions", q.regions}});
    }
    const nlohmann::json doc{{"seed", seed},
                             {"image", "image.png"},
                             {"size", size},
                             {"heavy_overlap", heavy},
                             {"objects", objects},
                             {"questions", questions}};
    std::ofstream(out / "scene.json") << doc.dump(2) << "\n";
    std::cout << out.string() << ": " << scene.objects.size() << " objects\n";
    for (const auto& o : scene.objects) {
      std::cout << "  " << ts::describe_object(o.color, o.shape) << "\n";
    }
  } catch (const std::exception& e) {
    return regionlm::examples::report_error(parser.program(), e);
  }
  return 0;
}
