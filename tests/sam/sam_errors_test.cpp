// Bad input to the SAM loader and predictor: typed errors that name the argument or key.
#include <gtest/gtest.h>

#include <fstream>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using regionlm::sam::Prompt;
using regionlm::sam::Sam;
using namespace regionlm::sam::test;

namespace {

// Expects `body` to throw E with every fragment in its message.
template <class E, class F>
void expect_error(F&& body, const std::vector<std::string>& fragments) {
  try {
    body();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << message << "\n  lacks: " << f;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

const Sam& model() {
  static const Sam sam = Sam::load(reference_model("vit-small"));
  return sam;
}

const regionlm::sam::SamImage& image() {
  static const auto encoded = model().encode(test_image(50, 80, "errors").first);
  return encoded;
}

// Copies the reference checkpoint to a new directory as safetensors after `edit`.
fs::path edited_checkpoint(const std::string& name,
                           const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>& edit) {
  const auto weights = regionlm::load_weights(reference_model("vit-small") / "sam.pth");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& key : weights.names()) tensors.emplace_back(key, weights.get(key));
  edit(tensors);
  const fs::path dir = regionlm::test::scratch_dir("sam-edited-" + name);
  regionlm::save_safetensors(dir / "sam.safetensors", tensors);
  return dir;
}

TEST(SamErrors, PointOutsideTheImage) {
  Prompt p;
  p.points = {{10, 10, 1}, {80, 10, 1}};  // x == width is outside
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"prompt.points[1]", "outside"});
  p.points = {{10, -0.5, 1}};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"prompt.points[0]", "outside"});
  p.points = {{std::nan(""), 3, 1}};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"points[0]", "finite"});
}

TEST(SamErrors, BadLabel) {
  Prompt p;
  p.points = {{10, 10, 2}};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"points[0]", "label 2"});
}

TEST(SamErrors, EmptyPrompt) {
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), Prompt{}); }, {"prompt", "empty"});
  std::vector<Prompt> prompts(2);
  prompts[0].points = {{1, 1, 1}};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), prompts); }, {"prompts[1]", "empty"});
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), std::vector<Prompt>{}); }, {"prompts"});
}

TEST(SamErrors, BoxWithX1BeforeX0) {
  Prompt p;
  p.box = regionlm::sam::Box{40, 10, 20, 30};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"prompt.box", "x0 <= x1"});
  p.box = regionlm::sam::Box{0, 0, 81, 20};
  expect_error<regionlm::ArgumentError>([&] { model().predict(image(), p); }, {"prompt.box", "outside"});
}

TEST(SamErrors, MaskInputOfTheWrongSize) {
  Prompt p;
  p.points = {{10, 10, 1}};
  p.mask_input = torch::zeros({1, 64, 64});  // the model's low-res size is 40
  expect_error<regionlm::ShapeError>([&] { model().predict(image(), p); }, {"mask_input", "[1, 40, 40]", "64"});
  p.mask_input = torch::zeros({40, 40}, torch::kInt64);
  expect_error<regionlm::ShapeError>([&] { model().predict(image(), p); }, {"mask_input", "floating"});
  p.mask_input = torch::zeros({40, 40});
  EXPECT_NO_THROW(model().predict(image(), p));
}

TEST(SamErrors, EmptyOrForeignImage) {
  Prompt p;
  p.points = {{1, 1, 1}};
  expect_error<regionlm::ArgumentError>([&] { model().predict(regionlm::sam::SamImage{}, p); }, {"image", "empty"});
  const Sam other = Sam::load(reference_model("vit-small"));
  expect_error<regionlm::ArgumentError>([&] { other.predict(image(), p); }, {"image", "another"});
  expect_error<regionlm::ArgumentError>([&] { model().encode(cv::Mat(4, 4, CV_8UC1)); }, {"image", "CV_8UC3"});
}

TEST(SamErrors, MissingKey) {
  const auto dir = edited_checkpoint("missing", [](auto& tensors) {
    std::erase_if(tensors, [](const auto& kv) { return kv.first == "mask_decoder.iou_token.weight"; });
  });
  expect_error<regionlm::WeightError>([&] { Sam::load(dir); }, {"missing", "mask_decoder.iou_token.weight"});
}

TEST(SamErrors, MisshapenKey) {
  const auto dir = edited_checkpoint("misshapen", [](auto& tensors) {
    for (auto& [k, v] : tensors) {
      if (k == "mask_decoder.transformer.layers.1.norm2.weight") v = torch::zeros({63});
    }
  });
  expect_error<regionlm::WeightError>([&] { Sam::load(dir); },
                                      {"mask_decoder.transformer.layers.1.norm2.weight", "[64]", "[63]"});
  const auto detect = edited_checkpoint("misshapen-detect", [](auto& tensors) {
    for (auto& [k, v] : tensors) {
      if (k == "image_encoder.pos_embed") v = torch::zeros({1, 10, 9, 64});
    }
  });
  expect_error<regionlm::WeightError>([&] { Sam::load(detect); }, {"image_encoder.pos_embed", "[1, 10, 9, 64]"});
}

TEST(SamErrors, NotASamCheckpoint) {
  const fs::path dir = regionlm::test::scratch_dir("sam-not-sam");
  regionlm::save_safetensors(dir / "w.safetensors", {{"model.layers.0.weight", torch::zeros({2, 2})}});
  expect_error<regionlm::WeightError>([&] { Sam::load(dir); }, {"image_encoder.patch_embed"});
}

void write_config(const fs::path& dir, const std::string& text) {
  std::ofstream(dir / "sam_config.json") << text;
}

TEST(SamErrors, ConfigContradictingTheWeights) {
  const auto dir = edited_checkpoint("config", [](auto&) {});
  write_config(dir, R"({"encoder_embed_dim": 128})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"sam_config.json", "encoder_embed_dim", "128", "64"});
  write_config(dir, R"({"encoder": "tiny_vit"})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"encoder", "tiny_vit", "vit"});
  write_config(dir, R"({"encoder_global_attn_indexes": [0, 3]})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"encoder_global_attn_indexes", "[0, 3]", "[1, 3]"});
  write_config(dir, R"({"window_size": 7})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"window_size", "7", "5"});
  write_config(dir, R"({"image_size": 1024})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"image_size", "1024", "160"});
  write_config(dir, R"({"depths": [2, 2, 6, 2]})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"depths", "TinyViT"});
  write_config(dir, R"({"window": 7})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"unknown key 'window'"});
  write_config(dir, R"({"encoder_depth": "four"})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"encoder_depth", "integer"});
  write_config(dir, R"({"encoder_depth": 4, "vit_patch_size": 16, "prompt_embed_dim": 64})");
  EXPECT_NO_THROW(Sam::load(dir));
}

TEST(SamErrors, RefinementPassesOutOfRange) {
  const auto dir = edited_checkpoint("refinement", [](auto&) {});
  write_config(dir, R"({"refinement_passes": 9})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"sam_config.json", "refinement_passes", "0 .. 8", "9"});
  write_config(dir, R"({"refinement_passes": -1})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"refinement_passes", "-1"});
  write_config(dir, R"({"refinement_passes": "one"})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"refinement_passes", "integer"});
  write_config(dir, R"({"refinement_passes": 3})");
  EXPECT_EQ(Sam::load(dir).config().refinement_passes, 3);

  Prompt p;
  p.points = {{10, 10, 1}};
  expect_error<regionlm::ArgumentError>([&] { model().best_mask(image(), p, {.refinement_passes = 9}); },
                                        {"refinement_passes", "0 .. 8", "9"});
  expect_error<regionlm::ArgumentError>([&] { model().best_mask(image(), p, {.refinement_passes = -2}); },
                                        {"refinement_passes", "-2"});
  expect_error<regionlm::ArgumentError>([&] { model().best_masks(image(), {p, Prompt{}}); }, {"prompts[1]"});
}

TEST(SamErrors, TinyVitConfigContradictingTheWeights) {
  const auto weights = regionlm::load_weights(reference_model("tiny-small") / "sam.pth");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& key : weights.names()) tensors.emplace_back(key, weights.get(key));
  const fs::path dir = regionlm::test::scratch_dir("sam-tiny-config");
  regionlm::save_safetensors(dir / "mobile_sam.safetensors", tensors);
  write_config(dir, R"({"num_heads": [1, 2, 4, 4]})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"num_heads", "[1, 2, 4, 4]"});
  write_config(dir, R"({"embed_dims": [16, 24, 32]})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"embed_dims", "4 stages"});
  write_config(dir, R"({"encoder_depth": 12})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"encoder_depth", "TinyViT"});
  write_config(dir, R"({"image_size": 1000})");
  expect_error<regionlm::ConfigError>([&] { Sam::load(dir); }, {"image_size", "multiple of 16"});
}

TEST(SamErrors, LocationWithoutOrWithSeveralWeightFiles) {
  const fs::path empty = regionlm::test::scratch_dir("sam-empty-dir");
  expect_error<regionlm::IoError>([&] { Sam::load(empty); }, {"exactly one weights file", "found 0"});
  const fs::path two = regionlm::test::scratch_dir("sam-two-files");
  fs::copy_file(reference_model("vit-small") / "sam.pth", two / "a.pth");
  fs::copy_file(reference_model("vit-small") / "sam.pth", two / "b.pt");
  expect_error<regionlm::IoError>([&] { Sam::load(two); }, {"found 2", "a.pth", "b.pt"});
  expect_error<regionlm::IoError>([&] { Sam::load(two / "nope.pth"); }, {"does not exist"});
}

}  // namespace
