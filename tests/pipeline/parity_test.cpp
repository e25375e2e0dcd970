// End-to-end parity with the Python reference pipeline (transformers LlamaForCausalLM, timm
// ConvNeXt, Osprey glue from the spec, LlamaTokenizerFast) on a random checkpoint in the
// published layout: prompt ids, image and region tokens, first-step logits (float32, 1e-4),
// greedy answers token for token, the open_clip-file variant and a two-turn chat.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "pipeline_test_util.hpp"
#include "regionlm/llm/kv_cache.hpp"

namespace regionlm::test {
namespace {

constexpr double kLogitTolerance = 1e-4;
constexpr double kTokenTolerance = 1e-4;

std::vector<nlohmann::json> single_turn_cases() {
  std::vector<nlohmann::json> out;
  for (const auto& c : reference().cases) {
    if (!c.contains("chat")) out.push_back(c);
  }
  return out;
}

std::vector<int64_t> region_indices(const text::PromptLayout& layout) {
  std::vector<int64_t> out;
  for (const auto& chunk : layout.chunks) {
    if (chunk.kind == text::Chunk::Kind::Region) out.push_back(chunk.region_index);
  }
  return out;
}

std::string strip(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

/// First-step logits [vocab] of a single-question prompt, computed as describe() does.
torch::Tensor first_logits(const Model& model, const EncodedImage& image, const std::vector<Region>& regions,
                           const std::string& prompt) {
  c10::InferenceMode guard;
  const auto layout = model.layout(prompt, static_cast<int64_t>(regions.size()));
  const torch::Tensor embeds = model.embed(layout, image, model.encode_regions(image, regions));  // [1, L, H]
  const Osprey osprey = model.osprey();
  llm::KVCache cache(model.config().text, 1, layout.length, osprey->options());
  return osprey->llama->forward(embeds, cache, /*last_only=*/true).reshape({-1});  // [vocab]
}

TEST(PipelineParity, ReferenceCoversThePromptKinds) {
  // 1 region, 3 regions in one prompt, a repeated numbered placeholder, a chat.
  bool one = false, three = false, repeated = false, chat = false;
  for (const auto& c : reference().cases) {
    if (c.contains("chat")) {
      chat = c["chat"].size() >= 2;
      continue;
    }
    one = one || c["regions"].size() == 1;
    three = three || c["regions"].size() == 3;
    repeated = repeated || c["order"].size() > c["regions"].size();
  }
  EXPECT_TRUE(one && three && repeated && chat);
}

TEST(PipelineParity, PromptIdsMatchReference) {
  const Model& model = reference_model();
  for (const auto& c : single_turn_cases()) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto layout = model.layout(c["prompt"], static_cast<int64_t>(c["regions"].size()));
    EXPECT_EQ(text::layout_ids(layout, model.tokenizer()), reference().ids(c["name"].get<std::string>() + ".input_ids"));
    EXPECT_EQ(region_indices(layout), c["order"].get<std::vector<int64_t>>());
  }
}

TEST(PipelineParity, ImageAndRegionTokensMatchReference) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  const double image_diff = max_abs_diff(image.image_tokens(), reference().tensor("image_tokens"));
  std::cout << "  max |image token - reference| = " << image_diff << "\n";
  EXPECT_LT(image_diff, kTokenTolerance);

  const RegionTokens tokens = model.encode_regions(image, reference().regions(nlohmann::json{0, 1, 2}));
  EXPECT_LT(max_abs_diff(tokens.mask_tokens, reference().tensor("mask_tokens")), kTokenTolerance);
  EXPECT_LT(max_abs_diff(tokens.pos_tokens, reference().tensor("pos_tokens")), kTokenTolerance);
}

TEST(PipelineParity, FirstStepLogitsMatchReference) {
  const Model& model = reference_model();
  const EncodedImage image = model.encode(reference().image);
  for (const auto& c : single_turn_cases()) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const torch::Tensor logits = first_logits(model, image, reference().regions(c["regions"]), c["prompt"]);
    const torch::Tensor expected = reference().tensor(c["name"].get<std::string>() + ".logits0");
    ASSERT_EQ(logits.sizes(), expected.sizes());
    const double diff = max_abs_diff(logits, expected);
    std::cout << "  " << c["name"].get<std::string>() << ": max |logit - reference| = " << diff << "\n";
    EXPECT_LT(diff, kLogitTolerance);
  }
}

TEST(PipelineParity, GreedyAnswersMatchReference) {
  const Model& model = reference_model();
  for (const auto& c : single_turn_cases()) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const Answer answer = model.describe(reference().image, reference().regions(c["regions"]), c["prompt"],
                                         greedy(c["max_new_tokens"]));
    const std::vector<int64_t> expected = reference().ids(name + ".tokens");
    EXPECT_EQ(answer.tokens, expected);
    EXPECT_EQ(strip(answer.text), c["answer"].get<std::string>());
    const bool ended_with_eos = !expected.empty() && expected.back() == model.tokenizer().eos_id();
    EXPECT_EQ(answer.stop_reason, ended_with_eos ? StopReason::Eos : StopReason::Length);
    EXPECT_GT(answer.encode_ms, 0.0);
  }
}

TEST(PipelineParity, VisionFromTheClipFileMatchesReference) {
  // The same weights, but the shards lack the trunk: it comes from mm_vision_tower
  // (open_clip layout, relative to the model directory, text tower present and ignored).
  LoadOptions options;
  options.device = "cpu";
  const Model model = Model::load(reference().model_clipfile, options);
  EXPECT_TRUE(model.unused_keys().empty());
  const auto& c = reference().find_case("three_regions");
  const Answer answer = model.describe(reference().image, reference().regions(c["regions"]), c["prompt"],
                                       greedy(c["max_new_tokens"]));
  EXPECT_EQ(answer.tokens, reference().ids("three_regions.tokens"));
}

TEST(PipelineParity, UnusedCheckpointKeysAreReported) {
  // The shards carry the trunk's unused classifier-head norm (as open_clip's trunk does) and
  // RoPE inv_freq buffers; only the former is reported.
  const std::vector<std::string> expected = {
      "model.vision_tower.vision_tower.visual.trunk.head.norm.bias",
      "model.vision_tower.vision_tower.visual.trunk.head.norm.weight"};
  EXPECT_EQ(reference_model().unused_keys(), expected);
}

TEST(PipelineParity, ChatMatchesReference) {
  const Model& model = reference_model();
  const auto& c = reference().find_case("chat");
  ChatSession session = model.chat(model.encode(reference().image), reference().regions(c["regions"]));
  for (size_t k = 0; k < c["chat"].size(); ++k) {
    SCOPED_TRACE("turn " + std::to_string(k));
    const auto& turn = c["chat"][k];
    const Answer answer = session.ask(turn["prompt"], greedy(c["max_new_tokens"]));
    EXPECT_EQ(answer.tokens, reference().ids("chat.turn" + std::to_string(k) + ".tokens"));
    EXPECT_EQ(session.history().back().assistant, turn["answer"].get<std::string>());
  }
}

}  // namespace
}  // namespace regionlm::test
