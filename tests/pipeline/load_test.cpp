// Model::load: checkpoint layouts (sharded .bin, safetensors, vision in a separate file),
// options, progress, and the errors for broken directories.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "pipeline_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

namespace fs = std::filesystem;

/// A model directory holding the reference's config and tokenizer files and the given
/// tensors as one `model.safetensors`.
fs::path safetensors_model(const std::string& name,
                           const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  const fs::path dir = scratch_dir(name);
  for (const char* file : {"config.json", "tokenizer.model", "added_tokens.json", "tokenizer_config.json",
                           "special_tokens_map.json"}) {
    fs::copy_file(reference().model / file, dir / file);
  }
  save_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

std::vector<std::pair<std::string, torch::Tensor>> reference_tensors() {
  const Weights weights = load_weights(reference().model);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& name : weights.names()) out.emplace_back(name, weights.get(name));
  return out;
}

TEST(ModelLoad, SafetensorsCheckpointAnswersLikeTheShards) {
  const Model model = Model::load(safetensors_model("safetensors-model", reference_tensors()), cpu());
  const auto& c = reference().find_case("three_regions");
  EXPECT_EQ(model.describe(reference().image, reference().regions(c["regions"]), c["prompt"],
                           greedy(c["max_new_tokens"]))
                .tokens,
            reference().ids("three_regions.tokens"));
}

TEST(ModelLoad, OneErrorListsEveryMissingAndMisshapenWeight) {
  auto tensors = reference_tensors();
  std::vector<std::pair<std::string, torch::Tensor>> broken;
  for (auto& [name, tensor] : tensors) {
    if (name == "model.norm.weight" || name == "model.vision_tower.vision_tower.visual.trunk.stem.0.bias") continue;
    if (name == "mask_extractor.res4.weight") tensor = tensor.t().contiguous();  // [24, 32] -> [32, 24]
    broken.emplace_back(name, tensor);
  }
  const std::string message =
      error_of<WeightError>([&] { Model::load(safetensors_model("broken-model", broken), cpu()); });
  EXPECT_NE(message.find("model.norm.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("model.vision_tower.vision_tower.visual.trunk.stem.0.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("mask_extractor.res4.weight: expected [24, 32], found [32, 24]"), std::string::npos) << message;
}

TEST(ModelLoad, UnexpectedKeysAreFatalOnlyWhenAsked) {
  LoadOptions strict = cpu();
  strict.allow_unexpected_keys = false;
  const std::string message = error_of<WeightError>([&] { Model::load(reference().model, strict); });
  EXPECT_NE(message.find("visual.trunk.head.norm.weight"), std::string::npos) << message;
}

TEST(ModelLoad, MissingVisionTowerFileIsNamed) {
  // The clip-file variant without its clip/ folder: no vision weights anywhere.
  const fs::path dir = scratch_dir("no-clip-model");
  for (const auto& entry : fs::directory_iterator(reference().model_clipfile)) {
    if (entry.is_regular_file()) fs::copy_file(entry.path(), dir / entry.path().filename());
  }
  const std::string message = error_of<IoError>([&] { Model::load(dir, cpu()); });
  EXPECT_NE(message.find("mm_vision_tower"), std::string::npos) << message;
  EXPECT_NE(message.find("open_clip_pytorch_model.bin"), std::string::npos) << message;

  // LoadOptions::vision_tower points at the file instead.
  LoadOptions options = cpu();
  options.vision_tower = reference().model_clipfile / "clip";  // a directory holding the open_clip file
  EXPECT_NO_THROW(Model::load(dir, options));
}

TEST(ModelLoad, BadDirectoryAndOptions) {
  EXPECT_NE(error_of<IoError>([] { Model::load("/nonexistent/osprey-7b", cpu()); }).find("/nonexistent/osprey-7b"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { Model::load(reference().model, cpu("float8")); }).find("float8"),
            std::string::npos);
  LoadOptions device = cpu();
  device.device = "tpu:0";
  EXPECT_NE(error_of<ConfigError>([&] { Model::load(reference().model, device); }).find("tpu:0"), std::string::npos);
  LoadOptions prefix = cpu();
  prefix.image_prefix = "no image marker here";
  EXPECT_THROW(Model::load(reference().model, prefix), ConfigError);
  LoadOptions conversation = cpu();
  conversation.conversation_template = "no_such_template";
  EXPECT_THROW(Model::load(reference().model, conversation), ArgumentError);
}

TEST(ModelLoad, PromptTextIsConfigurable) {
  const Model& model = reference_model();
  EXPECT_EQ(model.image_prefix(), prompts::kImagePrefix);
  EXPECT_EQ(model.conversation_template(), "osprey_v1");
  LoadOptions options = cpu();
  options.image_prefix = prompts::kImagePrefixEval;
  const Model eval = Model::load(reference().model, options);
  EXPECT_EQ(eval.image_prefix(), prompts::kImagePrefixEval);
  // The prefix reaches the prompt: the evaluation prefix adds a "." line.
  EXPECT_GT(eval.layout(prompts::kShortDescription, 1).length, model.layout(prompts::kShortDescription, 1).length);
}

TEST(ModelLoad, ProgressGoesFromZeroToOneThroughEveryPart) {
  std::vector<std::pair<double, std::string>> calls;
  LoadOptions options = cpu();
  options.on_progress = [&](double fraction, const std::string& stage) { calls.emplace_back(fraction, stage); };
  Model::load(reference().model, options);
  ASSERT_GE(calls.size(), 4u);
  EXPECT_EQ(calls.front().first, 0.0);
  EXPECT_EQ(calls.back().first, 1.0);
  std::set<std::string> stages;
  for (size_t i = 0; i < calls.size(); ++i) {
    stages.insert(calls[i].second);
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first);
    }
  }
  for (const char* stage : {"vision", "projector", "mask extractor", "decoder"}) EXPECT_TRUE(stages.count(stage)) << stage;
}

TEST(ModelLoad, Bfloat16OnCpuStaysCloseToFloat32) {
  // Vision, projector and decoder in bfloat16 (the extractor stays float32): first-step
  // logits stay within bf16's ~3 significant digits accumulated over the layers (logit
  // scale ~2 here, so 0.25 is about 5 % of the spread).
  const Model bf16 = Model::load(reference().model, cpu("bfloat16"));
  EXPECT_EQ(bf16.dtype(), torch::kBFloat16);
  const EncodedImage image = bf16.encode(reference().image);
  EXPECT_EQ(image.image_tokens().scalar_type(), torch::kBFloat16);
  const auto& c = reference().find_case("short0");
  c10::InferenceMode guard;
  const auto layout = bf16.layout(c["prompt"], 1);
  const RegionTokens tokens = bf16.encode_regions(image, reference().regions(c["regions"]));
  const Osprey osprey = bf16.osprey();
  llm::KVCache cache(bf16.config().text, 1, layout.length, osprey->options());
  const torch::Tensor logits = osprey->llama->forward(bf16.embed(layout, image, tokens), cache, true).reshape({-1});
  EXPECT_LT(max_abs_diff(logits, reference().tensor("short0.logits0")), 0.25);
}

}  // namespace
}  // namespace regionlm::test
