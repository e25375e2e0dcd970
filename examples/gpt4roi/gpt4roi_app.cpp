#include "gpt4roi/gpt4roi_app.hpp"

#include <torch/cuda.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/arguments.hpp"
#include "common/options.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm::examples {
namespace {

constexpr const char* kDefaultQuestion =
    "Can you provide me with a detailed description of the region in the picture marked by <region1>?";

torch::Device device_of(const std::string& name) {
  if (name.empty()) return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  try {
    return torch::Device(name);
  } catch (const std::exception&) {
    throw UsageError("--device '" + name + "': expected cpu, cuda or cuda:N");
  }
}

torch::ScalarType dtype_of(const std::string& name, const torch::Device& device) {
  if (name.empty()) return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw UsageError("--dtype '" + name + "': expected float32, bfloat16 or float16");
}

/// Boxes in command-line order: --box as given (exact), masks and RLE through their bounding box.
std::vector<gpt4roi::Box> boxes_of(const std::vector<RegionArgument>& arguments, int width, int height) {
  std::vector<gpt4roi::Box> boxes;
  for (const auto& argument : arguments) {
    if (argument.kind == RegionArgument::Kind::Box) {
      double v[4];
      std::stringstream in(argument.value);
      std::string part;
      for (int i = 0; i < 4; ++i) {
        if (!std::getline(in, part, ',')) throw UsageError("--box '" + argument.value + "': expected X0,Y0,X1,Y1");
        v[i] = parse_number(part, "--box");
      }
      if (std::getline(in, part, ',')) throw UsageError("--box '" + argument.value + "': expected X0,Y0,X1,Y1");
      boxes.push_back({v[0], v[1], v[2], v[3]});
      continue;
    }
    for (const Region& region : load_regions({argument})) {
      boxes.push_back(gpt4roi::box_of(region, width, height));
      const auto& b = boxes.back();
      std::fprintf(stderr, "note: region %zu (%s) is used as its bounding box (%g, %g, %g, %g): GPT4RoI reads boxes\n",
                   boxes.size(), region.describe().c_str(), b.x1, b.y1, b.x2, b.y2);
    }
  }
  return boxes;
}

}  // namespace

int gpt4roi_main(int argc, char** argv) {
  CommonOptions common;
  std::string prompt;
  bool chat = false;
  ArgumentParser parser("regionlm-gpt4roi",
                        "Asks GPT4RoI about boxes on an image. Regions are named <region1>, <region2>, ... in "
                        "command-line order; masks and RLE regions are used as their bounding boxes. Without "
                        "--prompt, each region gets GPT4RoI's detailed-description question.");
  add_common_options(parser, common);
  parser.option("prompt", "TEXT", "the question (default: a detailed description of each region)", &prompt);
  parser.flag("chat", "read one question per line from stdin and answer each in one conversation", &chat);
  try {
    if (!parser.parse(argc, argv)) return 0;
    if (common.regions.empty()) throw UsageError("give at least one region (--box, --mask or --rle-json)");
    gpt4roi::LoadOptions load;
    load.device = device_of(common.device);
    load.dtype = dtype_of(common.dtype, load.device);
    load.vision_tower = common.vision_tower;
    const auto model = gpt4roi::Model::load(common.model_dir, load);
    const cv::Mat rgb = vision::load_image(common.image);
    const auto boxes = boxes_of(common.regions, rgb.cols, rgb.rows);
    const auto image = model.encode(rgb);
    if (chat) {
      auto session = model.chat(image, boxes);
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        std::cout << session.ask(line, common.generation).text << std::endl;
      }
    } else if (!prompt.empty()) {
      std::cout << model.describe(image, boxes, prompt, common.generation).text << "\n";
    } else {
      const auto answers = model.describe_each(image, boxes, kDefaultQuestion, common.generation);
      for (size_t i = 0; i < answers.size(); ++i) std::cout << "region" << i + 1 << ": " << answers[i].text << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    return report_error(parser.program(), e);
  }
}

}  // namespace regionlm::examples
