// GPT4RoI through regionlm::Model, end to end against the Python reference pipeline
// (CLIPImageProcessor, CLIPVisionModel, torchvision roi_align, LlamaForCausalLM, GPT4RoI glue
// from the spec) on a random GPT4RoI checkpoint in the release layout: family detection, image
// tokens, region features, input ids, first-step logits, greedy answers of describe (1, 3 and
// repeated regions, border boxes), describe_each and a two-turn chat; masks as bounding boxes;
// bad input. (Region mentions, shared by both families: tests/pipeline/answer_test.cpp.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <thread>

#include "gpt4roi_reference_data.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/model.hpp"
#include "regionlm/text/region_mentions.hpp"
#include "test_util.hpp"

namespace regionlm::test {
namespace {

namespace fs = std::filesystem;

LoadOptions cpu(const std::string& dtype = "float32") {
  LoadOptions options;
  options.device = "cpu";
  options.dtype = dtype;
  return options;
}

const Model& model() {
  static const Model m = Model::load(gpt4roi_reference().model, cpu());
  return m;
}

const EncodedImage& scene() {
  static const EncodedImage image = model().encode(gpt4roi_reference().image);
  return image;
}

std::vector<Region> regions_of(const nlohmann::json& c) {
  std::vector<Region> out;
  for (const auto& b : gpt4roi_reference().boxes(c)) out.push_back(Region::from_box(b[0], b[1], b[2], b[3]));
  return out;
}

GenerationOptions greedy(int64_t max_new_tokens) {
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  return options;
}

std::string key_of(const nlohmann::json& c, size_t turn) {
  return c.at("turns").size() == 1 ? c.at("name").get<std::string>()
                                   : c.at("name").get<std::string>() + ".turn" + std::to_string(turn);
}

/// GPT4RoI's input_ids: every chunk's ids in order.
std::vector<int64_t> input_ids(const text::PromptLayout& layout) {
  std::vector<int64_t> ids;
  for (const auto& chunk : layout.chunks) ids.insert(ids.end(), chunk.ids.begin(), chunk.ids.end());
  return ids;
}

/// A copy of the reference checkpoint directory whose config.json `edit` changes.
fs::path edited_model(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = scratch_dir(name);
  for (const auto& entry : fs::directory_iterator(gpt4roi_reference().model)) {
    fs::create_symlink(fs::absolute(entry.path()), dir / entry.path().filename());
  }
  nlohmann::json config = nlohmann::json::parse(std::ifstream(gpt4roi_reference().model / "config.json"));
  config["mm_vision_tower"] = fs::absolute(gpt4roi_reference().clip).string();  // was relative to the original
  edit(config);
  fs::remove(dir / "config.json");
  std::ofstream(dir / "config.json") << config.dump(2);
  return dir;
}

TEST(Gpt4roiModel, ReferenceCoversTheCaseKinds) {
  bool one = false, three = false, repeated = false, border = false, chat = false;
  for (const auto& c : gpt4roi_reference().cases()) {
    const std::string first = c.at("turns")[0];
    one = one || c.at("boxes").size() == 1;
    three = three || c.at("boxes").size() == 3;
    repeated = repeated || first.find("<region1>") != first.rfind("<region1>");
    for (const auto& b : gpt4roi_reference().boxes(c)) border = border || b[0] == 0 || b[1] == 0 || b[2] == 200 || b[3] == 150;
    chat = chat || c.at("turns").size() >= 2;
  }
  EXPECT_TRUE(one && three && repeated && border && chat);
}

TEST(Gpt4roiModel, LoadReadsTheFamilyFromArchitectures) {
  EXPECT_EQ(model().family(), ModelFamily::Gpt4roi);
  EXPECT_EQ(model().image_token_count(), gpt4roi_reference().tensor("image_tokens").size(0));
  EXPECT_EQ(model().conversation_template(), "llava_v0");
  EXPECT_EQ(model().image_prefix(), gpt4roi::kFirstTurnPrefix);
  EXPECT_EQ(model().decoder_config().vocab_size, model().gpt4roi().config().text.vocab_size);
  EXPECT_EQ(model().device(), torch::Device(torch::kCPU));
  EXPECT_EQ(model().dtype(), torch::kFloat32);
  // LLaMA, mm_projector and spi_module consume the whole checkpoint (inv_freq buffers aside).
  EXPECT_TRUE(model().unused_keys().empty()) << model().unused_keys().front();
  // Osprey's accessors name the GPT4RoI ones instead of answering wrongly.
  EXPECT_NE(error_of<ArgumentError>([] { model().osprey(); }).find("gpt4roi()"), std::string::npos);
  EXPECT_NE(error_of<ArgumentError>([] { model().config(); }).find("GPT4RoI"), std::string::npos);
}

TEST(Gpt4roiModel, UnknownArchitectureIsAConfigErrorNamingFileAndKey) {
  const fs::path llava = edited_model("gpt4roi-llava", [](nlohmann::json& c) {
    c["architectures"] = {"LlavaLlamaForCausalLM"};
  });
  const std::string message = error_of<ConfigError>([&] { Model::load(llava, cpu()); });
  EXPECT_NE(message.find((llava / "config.json").string()), std::string::npos) << message;
  EXPECT_NE(message.find("'architectures'"), std::string::npos) << message;
  EXPECT_NE(message.find("LlavaLlamaForCausalLM"), std::string::npos) << message;
  const fs::path not_a_list = edited_model("gpt4roi-architectures-string", [](nlohmann::json& c) {
    c["architectures"] = "SPILlavaMPTForCausalLM";
  });
  EXPECT_NE(error_of<ConfigError>([&] { Model::load(not_a_list, cpu()); }).find("'architectures'"), std::string::npos);
}

TEST(Gpt4roiModel, LoadOptionsAreHonoured) {
  const auto& ref = gpt4roi_reference();
  // GPT4RoI has one template.
  LoadOptions osprey_template = cpu();
  osprey_template.conversation_template = "osprey_v1";
  EXPECT_NE(error_of<ConfigError>([&] { Model::load(ref.model, osprey_template); }).find("llava_v0"),
            std::string::npos);
  // The image prefix is GPT4RoI's first-turn prefix (its stage-1 data used others).
  LoadOptions prefixed = cpu();
  prefixed.image_prefix = "<image>\nAnswer with the category name only.\n";
  prefixed.allow_unexpected_keys = false;  // nothing unused: loads
  std::vector<std::pair<double, std::string>> progress;
  prefixed.on_progress = [&](double fraction, const std::string& stage) { progress.emplace_back(fraction, stage); };
  const Model custom = Model::load(ref.model, prefixed);
  EXPECT_EQ(custom.image_prefix(), prefixed.image_prefix);
  const auto layout = custom.layout("What is <region1>?", 1);
  const auto expected = gpt4roi::build_prompt(custom.tokenizer(), {}, "What is <region1>?", 1, custom.image_token_count(),
                                              custom.decoder_config().max_position_embeddings, true, prefixed.image_prefix);
  EXPECT_EQ(input_ids(layout), expected.ids);
  EXPECT_NE(input_ids(layout), input_ids(model().layout("What is <region1>?", 1)));
  ASSERT_GE(progress.size(), 3u);
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
  EXPECT_EQ(progress.back(), std::make_pair(1.0, std::string("ready")));
  LoadOptions bad_prefix = cpu();
  bad_prefix.image_prefix = "no image marker";
  EXPECT_THROW(Model::load(ref.model, bad_prefix), ConfigError);
}

TEST(Gpt4roiModel, VisionTowerIsFoundInTheHubCacheByRepositoryId) {
  // config.json names "openai/clip-vit-large-patch14" as the release does; the tower lies in a
  // hub-cache layout (refs/main -> snapshots/<revision>, files as symlinks), as
  // `huggingface-cli download` leaves it.
  const auto& ref = gpt4roi_reference();
  const fs::path root = scratch_dir("gpt4roi-hub-cache");
  const fs::path repo = root / "hub" / "models--openai--clip-vit-large-patch14";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / "0123abc");
  std::ofstream(repo / "refs" / "main") << "0123abc";
  for (const auto& entry : fs::directory_iterator(ref.clip)) {
    fs::create_symlink(fs::absolute(entry.path()), repo / "snapshots" / "0123abc" / entry.path().filename());
  }
  const fs::path model_dir = edited_model("gpt4roi-hub-model", [](nlohmann::json& c) {
    c["mm_vision_tower"] = "openai/clip-vit-large-patch14";
  });
  ::setenv("HF_HUB_CACHE", (root / "hub").c_str(), 1);
  const Model loaded = Model::load(model_dir, cpu());
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_TRUE(torch::equal(loaded.encode(ref.image).image_tokens(), scene().image_tokens()));
  ::setenv("HF_HUB_CACHE", (root / "empty").c_str(), 1);
  EXPECT_THROW(Model::load(model_dir, cpu()), ConfigError);
  ::unsetenv("HF_HUB_CACHE");
  // LoadOptions::vision_tower names the directory directly.
  LoadOptions named = cpu();
  named.vision_tower = ref.clip;
  EXPECT_TRUE(torch::equal(Model::load(model_dir, named).encode(ref.image).image_tokens(), scene().image_tokens()));
}

TEST(Gpt4roiModel, ImageTokensAndRegionFeaturesMatchReference) {
  const auto& ref = gpt4roi_reference();
  const double image_diff = max_abs_diff(scene().image_tokens(), ref.tensor("image_tokens"));
  std::cout << "  max |image token - reference| = " << image_diff << "\n";
  EXPECT_LT(image_diff, 1e-4);
  EXPECT_EQ(scene().width(), 200);
  EXPECT_EQ(scene().height(), 150);
  ASSERT_EQ(scene().features().size(), 4u);  // the fused pyramid, kept by encode
  EXPECT_EQ(scene().features()[0].scalar_type(), torch::kFloat32);
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const RegionTokens tokens = model().encode_regions(scene(), regions_of(c));
    EXPECT_EQ(tokens.tokens_per_region(), 1);
    EXPECT_FALSE(tokens.pos_tokens.defined());
    EXPECT_TRUE(tokens.notes.empty());
    const auto expected = ref.tensor(name + ".region_features");
    ASSERT_EQ(tokens.mask_tokens.sizes(), expected.sizes());
    const double diff = max_abs_diff(tokens.mask_tokens, expected);
    std::cout << "  " << name << ": max |region feature - reference| = " << diff << "\n";
    EXPECT_LT(diff, 1e-4 * std::max(1.0, expected.abs().max().item<double>()));
  }
}

TEST(Gpt4roiModel, LayoutIdsAndFirstStepLogitsMatchReference) {
  const auto& ref = gpt4roi_reference();
  c10::InferenceMode guard;
  for (const auto& c : ref.cases()) {
    const auto turns = c.at("turns").get<std::vector<std::string>>();
    const auto answers = c.at("answers").get<std::vector<std::string>>();
    const RegionTokens tokens = model().encode_regions(scene(), regions_of(c));
    std::vector<text::Turn> history;
    for (size_t k = 0; k < turns.size(); ++k) {
      const std::string key = key_of(c, k);
      SCOPED_TRACE(key);
      const text::PromptLayout layout = model().layout(turns[k], tokens.size(), history);
      ASSERT_EQ(input_ids(layout), ref.ids(key + ".input_ids"));
      for (const auto& chunk : layout.chunks) {
        if (chunk.kind == text::Chunk::Kind::Region) {
          EXPECT_EQ(chunk.length, 1);
        } else if (chunk.kind == text::Chunk::Kind::Image) {
          EXPECT_EQ(chunk.length, model().image_token_count());
        }
      }
      const auto embeds = model().embed(layout, scene(), tokens);  // [1, L, H]
      llm::KVCache cache(model().decoder_config(), 1, layout.length, embeds.options());
      const auto logits = model().gpt4roi().decoder()->forward(embeds, cache, /*last_only=*/true).reshape({-1});
      const auto expected = ref.tensor(key + ".logits0");
      ASSERT_EQ(logits.sizes(), expected.sizes());
      const double diff = max_abs_diff(logits, expected);
      std::cout << "  " << key << ": max |logit - reference| = " << diff << "\n";
      EXPECT_LT(diff, 1e-4);
      history.push_back({turns[k], answers[k]});
    }
  }
}

TEST(Gpt4roiModel, DescribeGivesTheReferenceGreedyAnswers) {
  const auto& ref = gpt4roi_reference();
  int answered = 0;
  for (const auto& c : ref.cases()) {
    if (c.at("turns").size() != 1) continue;
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto regions = regions_of(c);
    std::string streamed;
    GenerationOptions options = greedy(c.at("max_new_tokens"));
    options.on_step = [&](const Step& step) {
      streamed += step.piece;
      return true;
    };
    const Answer answer = model().describe(scene(), regions, c.at("turns")[0], options);
    EXPECT_EQ(answer.tokens, ref.ids(name + ".tokens"));
    EXPECT_EQ(answer.text, c.at("answers")[0].get<std::string>());
    EXPECT_EQ(streamed, answer.text);  // streamed as cleaned: no "Assistant:", no stop string
    EXPECT_TRUE(answer.notes.empty());
    EXPECT_GT(answer.regions_ms, 0);
    EXPECT_EQ(answer.mentions.size(), text::find_region_mentions(answer.text, regions.size()).size());
    std::cout << "  " << name << ": \"" << answer.text << "\"\n";
    ++answered;
  }
  EXPECT_EQ(answered, 6);
}

TEST(Gpt4roiModel, TheStepsGiveDescribesAnswer) {
  const auto& c = gpt4roi_reference().find_case("three");
  const auto regions = regions_of(c);
  const text::PromptLayout layout = model().layout(c.at("turns")[0], regions.size());
  const RegionTokens tokens = model().encode_regions(scene(), regions);
  const torch::Tensor embeds = model().embed(layout, scene(), tokens);
  const Answer answer = model().generate(layout, embeds, greedy(c.at("max_new_tokens"))).front();
  EXPECT_EQ(answer.tokens, gpt4roi_reference().ids("three.tokens"));
  EXPECT_EQ(answer.text, c.at("answers")[0].get<std::string>());
  // Osprey's two-token region form does not fit a GPT4RoI layout.
  RegionTokens pairs = tokens;
  pairs.pos_tokens = tokens.mask_tokens.clone();
  EXPECT_THROW(model().embed(layout, scene(), pairs), ShapeError);
}

TEST(Gpt4roiModel, DescribeEachGivesTheReferenceAnswerOfEveryBox) {
  // Boxes a, b, c asked the same question: the reference's single-box cases "one", "each_b" and
  // "each_c". The shared prefix is prefilled once; each row still gets its own answer.
  const auto& ref = gpt4roi_reference();
  const std::vector<std::string> names{"one", "each_b", "each_c"};
  std::vector<Region> regions;
  for (const auto& name : names) regions.push_back(regions_of(ref.find_case(name)).front());
  std::vector<std::string> streamed(names.size());
  GenerationOptions options = greedy(12);
  options.on_step = [&](const Step& step) {
    streamed.at(static_cast<size_t>(step.row)) += step.piece;
    return true;
  };
  const auto answers = model().describe_each(scene(), regions, "What is <region> doing?", options);
  ASSERT_EQ(answers.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(answers[i].tokens, ref.ids(names[i] + ".tokens"));
    EXPECT_EQ(answers[i].text, ref.find_case(names[i]).at("answers")[0].get<std::string>());
    EXPECT_EQ(streamed[i], answers[i].text);
  }
  EXPECT_THROW(model().describe_each(scene(), regions, "Is <region1> near <region2>?"), ArgumentError);
  EXPECT_THROW(model().describe_each(scene(), {}, "What is <region>?"), ArgumentError);
}

TEST(Gpt4roiModel, TwoTurnChatGivesTheReferenceAnswers) {
  const auto& ref = gpt4roi_reference();
  const auto& c = ref.find_case("chat");
  ChatSession session = model().chat(scene(), regions_of(c));
  const auto turns = c.at("turns").get<std::vector<std::string>>();
  std::vector<std::vector<int64_t>> first_run;
  for (size_t k = 0; k < turns.size(); ++k) {
    SCOPED_TRACE(k);
    const int64_t cached_before = session.cached_positions();
    std::string streamed;
    GenerationOptions options = greedy(c.at("max_new_tokens"));
    options.on_step = [&](const Step& step) {
      streamed += step.piece;
      return true;
    };
    const Answer answer = session.ask(turns[k], options);
    EXPECT_EQ(answer.tokens, ref.ids(key_of(c, k) + ".tokens"));
    EXPECT_EQ(answer.text, c.at("answers")[k].get<std::string>());
    EXPECT_EQ(streamed, answer.text);
    if (k > 0) {
      // Only the new turn is prefilled: the cache kept the image block and the first turn.
      EXPECT_GT(cached_before, model().image_token_count());
      EXPECT_LT(answer.timings.prompt_tokens, cached_before);
    }
    first_run.push_back(answer.tokens);
  }
  ASSERT_EQ(session.history().size(), 2u);
  EXPECT_EQ(session.history()[0].assistant, c.at("answers")[0].get<std::string>());
  // reset(): the same conversation again from the start.
  session.reset();
  EXPECT_EQ(session.cached_positions(), 0);
  for (size_t k = 0; k < turns.size(); ++k) EXPECT_EQ(session.ask(turns[k], greedy(c.at("max_new_tokens"))).tokens, first_run[k]);
}

TEST(Gpt4roiModel, ConcurrentDescribesOnOneModelGiveTheReferenceAnswers) {
  // The model's const methods share weights and keep no state: threads may run them at once.
  const auto& ref = gpt4roi_reference();
  std::vector<nlohmann::json> cases;
  for (const auto& c : ref.cases()) {
    if (c.at("turns").size() == 1) cases.push_back(c);
  }
  std::vector<std::vector<int64_t>> tokens(cases.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back([&, i] {
      tokens[i] = model().describe(scene(), regions_of(cases[i]), cases[i].at("turns")[0], greedy(12)).tokens;
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(tokens[i], ref.ids(cases[i].at("name").get<std::string>() + ".tokens")) << cases[i].at("name");
  }
}

// Questions about one EncodedImage continue its stored system-text + image prefix
// (LoadOptions::reuse_image_prefix, on by default, so every reference test above runs with it):
// answers, prompt counts and chat caches equal those of a model that prefills every prompt whole.
TEST(Gpt4roiModel, ImagePrefixReuseGivesTheAnswersOfFullPrefills) {
  const auto& ref = gpt4roi_reference();
  LoadOptions options = cpu();
  options.reuse_image_prefix = false;
  const Model whole = Model::load(ref.model, options);
  const EncodedImage reused = model().encode(ref.image);
  const EncodedImage plain = whole.encode(ref.image);
  // describe_each first (it makes the prefix), then describes and a chat that find it made.
  std::vector<Region> boxes;
  for (const char* name : {"one", "each_b", "each_c"}) boxes.push_back(regions_of(ref.find_case(name)).front());
  const auto a = model().describe_each(reused, boxes, "What is <region> doing?", greedy(12));
  const auto b = whole.describe_each(plain, boxes, "What is <region> doing?", greedy(12));
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].tokens, b[k].tokens) << "box " << k;
    EXPECT_EQ(a[k].timings.prompt_tokens, b[k].timings.prompt_tokens) << "box " << k;
  }
  for (const auto& c : ref.cases()) {
    if (c.at("turns").size() != 1) continue;
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Answer x = model().describe(reused, regions_of(c), c.at("turns")[0], greedy(c.at("max_new_tokens")));
    const Answer y = whole.describe(plain, regions_of(c), c.at("turns")[0], greedy(c.at("max_new_tokens")));
    EXPECT_EQ(x.tokens, y.tokens);
    EXPECT_EQ(x.text, y.text);
    EXPECT_EQ(x.timings.prompt_tokens, y.timings.prompt_tokens);
  }
  const auto& chat = ref.find_case("chat");
  ChatSession x = model().chat(reused, regions_of(chat));
  ChatSession y = whole.chat(plain, regions_of(chat));
  for (int pass = 0; pass < 2; ++pass) {  // the second after reset(): from the shared prefix again
    for (const auto& turn : chat.at("turns")) {
      const Answer p = x.ask(turn, greedy(chat.at("max_new_tokens")));
      const Answer q = y.ask(turn, greedy(chat.at("max_new_tokens")));
      EXPECT_EQ(p.tokens, q.tokens) << turn;
      EXPECT_EQ(p.timings.prompt_tokens, q.timings.prompt_tokens) << turn;
      EXPECT_EQ(x.cached_positions(), y.cached_positions()) << turn;
    }
    x.reset();
    y.reset();
  }
}

TEST(Gpt4roiModel, Bfloat16DecoderRunsWithFloat32RegionBranch) {
  // Every tensor meets its module's dtype: tower, projector and decoder in bfloat16, the region
  // branch in float32. Region features stay within bfloat16's resolution of the reference
  // (relative step 2^-8 per rounding; 5e-2 allows a few roundings through the 10-layer tower).
  const auto& ref = gpt4roi_reference();
  const Model bf16 = Model::load(ref.model, cpu("bfloat16"));
  EXPECT_EQ(bf16.dtype(), torch::kBFloat16);
  const EncodedImage image = bf16.encode(ref.image);
  EXPECT_EQ(image.image_tokens().scalar_type(), torch::kBFloat16);
  EXPECT_EQ(image.features()[0].scalar_type(), torch::kFloat32);
  const auto& c = ref.find_case("three");
  const RegionTokens tokens = bf16.encode_regions(image, regions_of(c));
  EXPECT_EQ(tokens.mask_tokens.scalar_type(), torch::kBFloat16);
  const auto expected = ref.tensor("three.region_features");
  EXPECT_LT(max_abs_diff(tokens.mask_tokens, expected), 5e-2 * expected.abs().max().item<double>());
  EXPECT_FALSE(bf16.describe(image, regions_of(c), c.at("turns")[0], greedy(4)).tokens.empty());
  EXPECT_THROW(bf16.describe(scene(), regions_of(c), c.at("turns")[0], greedy(4)), ArgumentError);  // another model's image
}

TEST(Gpt4roiModel, Int8DecoderStaysCloseToTheReference) {
  // LoadOptions::quantize "int8": the decoder's projections, lm_head and the projector are
  // int8 (no float weight left, nothing reported unused); tower and region branch stay float.
  const auto& ref = gpt4roi_reference();
  LoadOptions options = cpu();
  options.quantize = "int8";
  const Model int8 = Model::load(ref.model, options);
  EXPECT_TRUE(int8.unused_keys().empty());
  int64_t quantized = 0;
  for (const auto& module : int8.gpt4roi().decoder()->modules()) {
    if (const auto* linear = dynamic_cast<const layers::LinearImpl*>(module.get())) quantized += linear->quantized();
  }
  EXPECT_EQ(quantized, 7 * int8.decoder_config().num_hidden_layers + 1);
  const auto& c = ref.find_case("three");
  const EncodedImage image = int8.encode(ref.image);
  const RegionTokens tokens = int8.encode_regions(image, regions_of(c));
  const auto features = ref.tensor("three.region_features");  // the region branch stays float32
  EXPECT_LT(max_abs_diff(tokens.mask_tokens, features), 1e-4 * std::max(1.0, features.abs().max().item<double>()));
  c10::InferenceMode guard;
  const auto layout = int8.layout(c.at("turns")[0], tokens.size());
  llm::KVCache cache(int8.decoder_config(), 1, layout.length, torch::TensorOptions());
  const auto logits = int8.gpt4roi().decoder()->forward(int8.embed(layout, image, tokens), cache, true).reshape({-1});
  const auto expected = ref.tensor("three.logits0");
  const double deviation = max_abs_diff(logits, expected) / (expected.max() - expected.min()).item<double>();
  std::cout << "  int8: max |logit - reference| = " << 100 * deviation << " % of the logit range\n";
  EXPECT_LE(deviation, 0.05);
  EXPECT_FALSE(int8.describe(image, regions_of(c), c.at("turns")[0], greedy(4)).tokens.empty());
  options.quantize = "int4";
  EXPECT_NE(error_of<ConfigError>([&] { Model::load(ref.model, options); }).find("int4"), std::string::npos);
}

TEST(Gpt4roiModel, AMaskRegionIsAskedAboutAsItsBoundingBoxAndTheAnswerSaysSo) {
  cv::Mat mask = cv::Mat::zeros(150, 200, CV_8UC1);
  mask(cv::Rect(30, 40, 50, 20)).setTo(1);  // columns 30..79, rows 40..59
  mask.at<uint8_t>(100, 120) = 1;           // one stray pixel widens the box
  const gpt4roi::Box b = gpt4roi::box_of(Region::from_mask(mask), 200, 150);
  EXPECT_EQ(b.x1, 30);
  EXPECT_EQ(b.y1, 40);
  EXPECT_EQ(b.x2, 121);
  EXPECT_EQ(b.y2, 101);
  EXPECT_THROW(gpt4roi::box_of(Region::from_box(300, 10, 400, 20), 200, 150), ArgumentError);

  // Case "one"'s box (20, 30, 90, 110) as a mask with a hole: the same answer, and a note.
  const auto& ref = gpt4roi_reference();
  const auto& c = ref.find_case("one");
  cv::Mat box_mask = cv::Mat::zeros(150, 200, CV_8UC1);
  box_mask(cv::Rect(20, 30, 70, 80)).setTo(1);
  box_mask(cv::Rect(40, 50, 10, 10)).setTo(0);
  const Region as_mask = Region::from_mask(box_mask);
  const Answer noted = model().describe(scene(), {as_mask}, c.at("turns")[0], greedy(12));
  EXPECT_EQ(noted.tokens, ref.ids("one.tokens"));
  ASSERT_EQ(noted.notes.size(), 1u);
  EXPECT_NE(noted.notes[0].find("region 1 (mask 150x200) was used as its bounding box (20, 30, 90, 110)"),
            std::string::npos)
      << noted.notes[0];
  EXPECT_TRUE(torch::equal(model().encode_regions(scene(), {as_mask}).mask_tokens,
                           model().encode_regions(scene(), regions_of(c)).mask_tokens));
  // The same through describe_each (the note on that row only) and chat (on every answer).
  const auto each = model().describe_each(scene(), {regions_of(c).front(), as_mask}, "What is <region> doing?", greedy(2));
  EXPECT_TRUE(each[0].notes.empty());
  ASSERT_EQ(each[1].notes.size(), 1u);
  EXPECT_NE(each[1].notes[0].find("region 2 (mask"), std::string::npos) << each[1].notes[0];
  ChatSession chat = model().chat(scene(), {as_mask});
  EXPECT_EQ(chat.ask(c.at("turns")[0], greedy(2)).notes.size(), 1u);
}

TEST(Gpt4roiModel, BadBoxesAndPlaceholdersAreArgumentErrorsNamingThem) {
  const auto options = greedy(2);
  auto expect_argument_error = [&](const std::vector<Region>& regions, const std::string& prompt,
                                   const std::string& needle) {
    const std::string message = error_of<ArgumentError>([&] { model().describe(scene(), regions, prompt, options); });
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  const std::string q = "What is <region1>?";
  expect_argument_error({Region::from_box(10, 10, 250, 80)}, q, "box 1 (10, 10, 250, 80) reaches outside the 200x150 image");
  expect_argument_error({Region::from_box(-1, 10, 50, 80)}, q, "outside");
  expect_argument_error({Region::from_box(10, 10, 10, 80)}, q, "zero");  // zero width
  expect_argument_error({Region::from_box(30, 40, 10, 80)}, q, "box 1");  // inverted
  expect_argument_error({Region::from_box(10, 10, 50, 80), Region::from_box(60, 10, 250, 80)},
                        "Is <region1> near <region2>?", "box 2");
  expect_argument_error({Region::from_box(10, 10, 50, 80)}, "Is <region1> near <region2>?", "<region2>");  // more <bbox>
  expect_argument_error({Region::from_box(10, 10, 50, 80), Region::from_box(60, 10, 90, 80)}, q, "region 2");  // unreferenced
  expect_argument_error({Region::from_box(10, 10, 50, 80)}, "What is <bbox>?", "<bbox>");
  expect_argument_error({Region::from_mask(cv::Mat::zeros(150, 200, CV_8UC1))}, q, "region 1");  // no pixel
  expect_argument_error({Region::from_mask(cv::Mat::ones(10, 10, CV_8UC1))}, q, "region 1");     // wrong size
  EXPECT_THROW(model().chat(scene(), {Region::from_box(0, 0, 0, 0)}), ArgumentError);
  EXPECT_THROW(model().describe(EncodedImage(), {Region::from_box(10, 10, 50, 80)}, q), ArgumentError);
}

}  // namespace
}  // namespace regionlm::test
