// regionlm-steps: the low-level steps that Model::describe is made of, run one by one on the
// bundled model and scene, next to the one-call helper. docs/api.md pastes its output.
//
//   regionlm-steps [--model models/tiny-shapes] [--scene examples/data/tiny-shapes-scene]
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <iostream>
#include <string>

#include "common/arguments.hpp"
#include "regionlm/model.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  using namespace regionlm;
  std::string model_dir = "models/tiny-shapes";
  std::string scene = "examples/data/tiny-shapes-scene";
  examples::ArgumentParser parser("regionlm-steps", "Runs Model::describe's steps one by one, then describe itself.");
  parser.option("model", "DIR", "model directory (default models/tiny-shapes)", &model_dir);
  parser.option("scene", "DIR", "folder with image.png and mask_<k>.png (default the bundled scene)", &scene);
  try {
    if (!parser.parse(argc, argv)) return 0;
    const Model model = Model::load(model_dir);
    const std::vector<Region> regions = {
        Region::from_mask(cv::imread((fs::path(scene) / "mask_0.png").string(), cv::IMREAD_GRAYSCALE)),
        Region::from_mask(cv::imread((fs::path(scene) / "mask_1.png").string(), cv::IMREAD_GRAYSCALE))};
    const std::string prompt = "Is <region1> left of <region2>?";

    // 1. Lay out the prompt: chunk lengths are known before anything is encoded.
    const text::PromptLayout layout = model.layout(prompt, static_cast<int64_t>(regions.size()));
    std::cout << "layout: " << layout.length << " positions in " << layout.chunks.size() << " chunks:";
    for (const text::Chunk& chunk : layout.chunks) {
      switch (chunk.kind) {
        case text::Chunk::Kind::Text: std::cout << " text(" << chunk.length << ")"; break;
        case text::Chunk::Kind::Image: std::cout << " image(" << chunk.length << ")"; break;
        case text::Chunk::Kind::Region: std::cout << " region" << chunk.region_index + 1 << "(2)"; break;
      }
    }
    std::cout << "\n";

    // 2. Encode the image (once per image), 3. the regions (once per region set).
    const EncodedImage image = model.encode(fs::path(scene) / "image.png");
    std::cout << "image: " << image.width() << "x" << image.height() << " px -> " << image.image_tokens().size(0)
              << " image tokens\n";
    const RegionTokens tokens = model.encode_regions(image, regions);
    std::cout << "regions: " << tokens.size() << " mask tokens + " << tokens.size() << " position tokens of width "
              << tokens.mask_tokens.size(1) << "\n";

    // 4. Embed the layout, 5. generate.
    const torch::Tensor embeds = model.embed(layout, image, tokens);  // [1, L, hidden]
    std::cout << "embeddings: [" << embeds.size(0) << ", " << embeds.size(1) << ", " << embeds.size(2) << "]\n";
    GenerationOptions options;
    options.on_step = [](const Step& step) {
      std::cout << "  step: token " << step.token << " \"" << step.piece << "\"" << (step.finished ? " (finished)" : "")
                << "\n";
      return true;
    };
    const Answer stepped = model.generate(layout, embeds, options).front();
    std::cout << prompt << " -> " << stepped.text << " (" << to_string(stepped.stop_reason) << ")\n";

    // The one-call helper does the same.
    const Answer helper = model.describe(image, regions, prompt);
    std::cout << "Model::describe -> " << helper.text << (helper.tokens == stepped.tokens ? " (same tokens)" : " (DIFFERENT)")
              << "\n";
  } catch (const std::exception& e) {
    return examples::report_error(parser.program(), e);
  }
  return 0;
}
