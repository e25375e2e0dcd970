// The shipped models/tiny-shapes/sam: its manifest matches, it holds SAM's official keys and a
// sam_config.json that Sam::load applies, it stays small, a corrupted or truncated file is
// refused with an error naming it, and `regionlm-segment --sam models/tiny-shapes/sam` works
// on the bundled scene, and so do a click and --everything through `regionlm-describe --sam`.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/model.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_evaluation.hpp"
#include "sam_trainer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;
using regionlm::test::error_of;
using regionlm::test::run_command;
using regionlm::test::scratch_dir;
using regionlm::test::shell_quote;
using regionlm::test::source_dir;

namespace {

fs::path shipped() { return source_dir() / "models" / "tiny-shapes" / "sam"; }
fs::path scene_dir() { return source_dir() / "examples" / "data" / "tiny-shapes-scene"; }

fs::path copy_of_shipped(const std::string& name) {
  const fs::path dir = scratch_dir(name) / "sam";
  fs::copy(shipped(), dir, fs::copy_options::recursive);
  return dir;
}


}  // namespace

TEST(TinySamModel, ShippedFilesMatchTheManifestAndStaySmall) {
  const auto entries = ts::verify_manifest(shipped());
  std::set<std::string> names;
  uint64_t bytes = 0;
  for (const auto& e : entries) {
    names.insert(e.path);
    bytes += e.bytes;
  }
  EXPECT_EQ(names, std::set<std::string>(ts::sam_directory_files().begin(), ts::sam_directory_files().end()));
  EXPECT_LE(bytes, 10u * 1000 * 1000) << "the shipped segmenter must stay within 10 MB";
}

// The official key layout, and a sam_config.json whose every value is what Sam::load uses.
TEST(TinySamModel, LoadsAsASamCheckpointWithItsConfig) {
  const regionlm::Weights weights = regionlm::load_weights(shipped() / "model.safetensors");
  for (const char* key : {"image_encoder.patch_embed.proj.weight", "image_encoder.pos_embed",
                          "image_encoder.blocks.0.attn.rel_pos_h", "image_encoder.neck.3.bias",
                          "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                          "prompt_encoder.point_embeddings.3.weight", "prompt_encoder.mask_downscaling.6.weight",
                          "mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight",
                          "mask_decoder.output_hypernetworks_mlps.3.layers.2.bias",
                          "mask_decoder.iou_prediction_head.layers.2.weight", "mask_decoder.mask_tokens.weight"}) {
    EXPECT_TRUE(weights.contains(key)) << key;
  }
  const regionlm::sam::Sam sam = regionlm::sam::Sam::load(shipped());
  EXPECT_EQ(sam.weights_file().filename(), "model.safetensors");
  std::ifstream in(shipped() / "sam_config.json");
  const auto config = nlohmann::json::parse(in);
  const regionlm::sam::SamConfig& c = sam.config();
  EXPECT_EQ(config.at("encoder"), c.encoder_name());
  EXPECT_EQ(config.at("image_size").get<int64_t>(), c.image_size);
  EXPECT_EQ(config.at("vit_patch_size").get<int64_t>(), c.vit_patch_size);
  EXPECT_EQ(config.at("encoder_embed_dim").get<int64_t>(), c.encoder_embed_dim);
  EXPECT_EQ(config.at("encoder_depth").get<int64_t>(), c.encoder_depth);
  EXPECT_EQ(config.at("encoder_num_heads").get<int64_t>(), c.encoder_num_heads);
  EXPECT_EQ(config.at("encoder_global_attn_indexes").get<std::vector<int64_t>>(), c.encoder_global_attn_indexes);
  EXPECT_EQ(config.at("window_size").get<int64_t>(), c.window_size);
  EXPECT_EQ(config.at("prompt_embed_dim").get<int64_t>(), c.prompt_embed_dim);
  const ts::TinySamSpec spec;  // the trainer's defaults are what was shipped
  EXPECT_EQ(c.image_size, spec.image_size);
  EXPECT_EQ(c.encoder_embed_dim, spec.embed_dim);
  EXPECT_EQ(c.prompt_embed_dim, spec.prompt_embed_dim);
}

TEST(TinySamModel, CorruptedFilesAreRefusedNamingTheFile) {
  const fs::path dir = copy_of_shipped("tiny-sam-flipped");
  {
    std::fstream f(dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(dir / "model.safetensors") / 2));
    f.put('\x5a');
  }
  std::string message = error_of<regionlm::FormatError>([&] { ts::verify_manifest(dir); });
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("SHA-256"), std::string::npos) << message;

  const fs::path truncated = copy_of_shipped("tiny-sam-truncated");
  fs::resize_file(truncated / "sam_config.json", fs::file_size(truncated / "sam_config.json") - 3);
  message = error_of<regionlm::FormatError>([&] { ts::verify_manifest(truncated); });
  EXPECT_NE(message.find("sam_config.json"), std::string::npos) << message;

  // What the README tells users to run fails loudly too, naming the file.
  const auto [ok, ok_output] =
      run_command(shell_quote(REGIONLM_TRAIN_TINY_SAM_BIN) + " --verify " + shell_quote(shipped().string()) +
                  " --eval-scenes 0");
  EXPECT_EQ(ok, 0) << ok_output;
  const auto [code, output] = run_command(shell_quote(REGIONLM_TRAIN_TINY_SAM_BIN) + " --verify " +
                                          shell_quote(dir.string()) + " --eval-scenes 0");
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("model.safetensors"), std::string::npos) << output;
}

// `regionlm-segment --sam models/tiny-shapes/sam` on the bundled scene: a click inside each
// object gives that object's visible pixels.
TEST(TinySamModel, SegmentCommandWorksOnTheBundledScene) {
  std::ifstream in(scene_dir() / "scene.json");
  const auto scene = nlohmann::json::parse(in);
  const auto& objects = scene.at("objects");
  ASSERT_EQ(objects.size(), 4u);
  for (size_t i = 0; i < objects.size(); ++i) {
    const cv::Mat truth = cv::imread((scene_dir() / objects[i].at("mask").get<std::string>()).string(), cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(truth.empty());
    // The most interior pixel of the object: a click anyone would make.
    cv::Mat distance;
    cv::distanceTransform(truth != 0, distance, cv::DIST_L2, 3);
    cv::Point inner;
    cv::minMaxLoc(distance, nullptr, nullptr, nullptr, &inner);
    const auto [code, output] = run_command(
        shell_quote(REGIONLM_SEGMENT_BIN) + " --sam " + shell_quote(shipped().string()) + " --image " +
        shell_quote((scene_dir() / "image.png").string()) + " --point " + std::to_string(inner.x) + "," +
        std::to_string(inner.y) + " --json");
    ASSERT_EQ(code, 0) << output;
    const auto result = nlohmann::json::parse(output);
    const auto& rle = result.at("masks").at(0).at("rle");
    const cv::Mat mask = regionlm::rle_decode(rle.at("counts").get<std::string>(), rle.at("size")[0].get<int>(),
                                              rle.at("size")[1].get<int>());
    EXPECT_GE(ts::mask_iou(mask, truth), 0.9) << objects[i].at("answer") << " clicked at " << inner;
  }
}

// Automatic generation where no mask passes the filters returns no mask (it used to throw
// reading the empty result's boxes).
TEST(TinySamModel, AutomaticGenerationWithNothingKeptIsEmpty) {
  const regionlm::sam::Sam sam = regionlm::sam::Sam::load(shipped());
  const cv::Mat rgb = regionlm::vision::load_image(scene_dir() / "image.png");
  regionlm::sam::AutomaticMaskOptions options = ts::tiny_automatic_options();
  options.pred_iou_thresh = 2.0;  // no predicted IoU exceeds 2
  EXPECT_TRUE(regionlm::sam::generate_masks(sam, rgb, options).empty());
  options = ts::tiny_automatic_options();
  EXPECT_FALSE(regionlm::sam::generate_masks(sam, rgb, options).empty());
}

namespace {

// The command-line spelling of tiny_automatic_options(): the settings `make demo` passes.
std::string automatic_flags(const regionlm::sam::AutomaticMaskOptions& o) {
  std::string flags;
  for (const std::string& a : ts::automatic_mask_arguments(o)) flags += " " + a;
  return flags;
}

std::pair<int, std::string> describe(const std::string& arguments) {
  return run_command(shell_quote(REGIONLM_DESCRIBE_BIN) + " --model " +
                     shell_quote((source_dir() / "models" / "tiny-shapes").string()) + " --sam " +
                     shell_quote(shipped().string()) + " --image " + shell_quote((scene_dir() / "image.png").string()) +
                     " " + arguments);
}

nlohmann::json last_json(const std::string& output) {
  const size_t at = output.rfind("\n{");
  return nlohmann::json::parse(output.substr(at == std::string::npos ? 0 : at + 1));
}

}  // namespace

// Describe everything on the bundled scene: every object is one of the marks (IoU >= 0.8),
// described as what it is, and both pictures are written.
TEST(TinySamModel, DescribeEverythingFindsEveryObjectOfTheBundledScene) {
  const fs::path dir = scratch_dir("tiny-sam-everything");
  const auto [code, output] = describe("--everything --json" + automatic_flags(ts::tiny_automatic_options()) +
                                       " --annotate " + shell_quote((dir / "everything.png").string()) + " --marks " +
                                       shell_quote((dir / "marks.png").string()));
  ASSERT_EQ(code, 0) << output;
  const auto result = last_json(output);
  const auto& regions = result.at("regions");
  std::ifstream in(scene_dir() / "scene.json");
  const auto scene = nlohmann::json::parse(in);
  EXPECT_EQ(regions.size(), scene.at("objects").size()) << output;
  for (const auto& object : scene.at("objects")) {
    const cv::Mat truth =
        cv::imread((scene_dir() / object.at("mask").get<std::string>()).string(), cv::IMREAD_GRAYSCALE);
    double best = 0;
    std::string text;
    for (const auto& region : regions) {
      const auto& rle = region.at("rle");
      const cv::Mat mask = regionlm::rle_decode(rle.at("counts").get<std::string>(), rle.at("size")[0].get<int>(),
                                                rle.at("size")[1].get<int>());
      const double iou = ts::mask_iou(mask, truth);
      if (iou > best) {
        best = iou;
        text = region.at("text");
      }
    }
    EXPECT_GE(best, 0.8) << object.at("answer");
    EXPECT_EQ(text, object.at("answer"));
  }
  EXPECT_FALSE(cv::imread((dir / "everything.png").string()).empty());
  EXPECT_FALSE(cv::imread((dir / "marks.png").string()).empty());
}

// A click on the partly hidden blue square (what `make demo` clicks): SAM's mask of its visible
// pixels, and Osprey's answer about it, the same tokens as the library's on that mask.
TEST(TinySamModel, ClickMaskAnswerOnTheBundledScene) {
  const auto [code, output] = describe("--point 30,120 --prompt " + shell_quote("What is <region>?") + " --json");
  ASSERT_EQ(code, 0) << output;
  const auto result = last_json(output);
  EXPECT_EQ(result.at("answers").at(0).at("text"), "a blue square");
  const regionlm::sam::Sam sam = regionlm::sam::Sam::load(shipped());
  const cv::Mat rgb = regionlm::vision::load_image(scene_dir() / "image.png");
  regionlm::sam::Prompt click;
  click.points = {{30, 120, 1}};
  const regionlm::sam::Masks masks = sam.best_mask(sam.encode(rgb), click);
  const cv::Mat square = cv::imread((scene_dir() / "mask_0.png").string(), cv::IMREAD_GRAYSCALE);
  EXPECT_GE(ts::mask_iou(masks.mask(0), square), 0.9);
  const regionlm::Model model = regionlm::Model::load(source_dir() / "models" / "tiny-shapes");
  const auto answer = model.describe(model.encode(rgb), {masks.region(0)}, "What is <region>?");
  EXPECT_EQ(result.at("answers").at(0).at("tokens").get<std::vector<int64_t>>(), answer.tokens);
}

// tiny_automatic_options() is the one place for the tiny SAM's generator settings; the demo
// and every page that spells them out as flags must say the same.
TEST(TinySamModel, DemoAndDocsPassTheTinyGeneratorSettings) {
  const std::vector<std::string> tiny = ts::automatic_mask_arguments(ts::tiny_automatic_options());
  const std::vector<std::string> defaults = ts::automatic_mask_arguments({});
  std::string expected;  // the flags that differ from segment-anything's defaults, in order
  for (size_t i = 0; i + 1 < tiny.size(); i += 2) {
    if (tiny[i + 1] != defaults[i + 1]) expected += (expected.empty() ? "" : " ") + tiny[i] + " " + tiny[i + 1];
  }
  for (const char* file : {"scripts/demo.sh", "README.md", "docs/server.md", "examples/server/README.md",
                           "examples/describe/README.md"}) {
    std::ifstream in(source_dir() / file);
    ASSERT_TRUE(in) << file;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t at; (at = text.find("\\\n")) != std::string::npos;) text.replace(at, 2, " ");  // continued lines
    std::string flat;  // white space runs (line breaks, indentation) as one space
    for (const char c : text) {
      const bool space = c == ' ' || c == '\n' || c == '\t';
      if (!space) flat += c;
      else if (!flat.empty() && flat.back() != ' ') flat += ' ';
    }
    EXPECT_NE(flat.find(expected), std::string::npos) << file << " does not pass: " << expected;
  }
}
