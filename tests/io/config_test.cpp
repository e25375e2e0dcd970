// config.json parsing: transformers 4.31 defaults, Osprey fields, type errors.
#include <gtest/gtest.h>

#include <fstream>

#include "regionlm/config.hpp"
#include "regionlm/error.hpp"
#include "test_util.hpp"

using regionlm::ConfigError;

using regionlm::test::error_of;

namespace {

// The shape of the published Osprey-7b config.json (LLaVA-1.5 / Vicuna-7B v1.5 fields).
const char* kOspreyConfig = R"({
  "_name_or_path": "Osprey-7b",
  "architectures": ["OspreyLlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "freeze_mm_mlp_adapter": false,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "image_aspect_ratio": "pad",
  "initializer_range": 0.02,
  "intermediate_size": 11008,
  "max_position_embeddings": 4096,
  "mm_hidden_size": 768,
  "mm_projector_type": "mlp2x_gelu",
  "mm_use_im_patch_token": false,
  "mm_use_im_start_end": false,
  "mm_vision_select_feature": "patch",
  "mm_vision_select_layer": -2,
  "mm_vision_tower": "./open_clip_pytorch_model.bin",
  "model_type": "osprey",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 32,
  "pad_token_id": 0,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.31.0",
  "use_cache": true,
  "vocab_size": 32000
})";

std::string llama_error(const std::string& json) {
  return error_of<ConfigError>([&] { regionlm::parse_llama_config(json, "cfg.json"); });
}

}  // namespace

TEST(Config, OspreySampleFromFile) {
  const auto dir = regionlm::test::scratch_dir("config");
  std::ofstream(dir / "config.json") << kOspreyConfig;
  const regionlm::OspreyConfig c = regionlm::load_osprey_config(dir);
  EXPECT_EQ(c.text.hidden_size, 4096);
  EXPECT_EQ(c.text.num_hidden_layers, 32);
  EXPECT_EQ(c.text.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
  EXPECT_FALSE(c.text.rope_scaling.has_value());
  EXPECT_EQ(c.text.head_dim(), 128);
  EXPECT_EQ(c.mm_hidden_size, 768);
  EXPECT_EQ(c.mm_projector_type, "mlp2x_gelu");
  EXPECT_EQ(c.mm_vision_tower, "./open_clip_pytorch_model.bin");
  EXPECT_EQ(c.model_type, "osprey");
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  // No vision/extractor objects in the published file: Osprey's hard-coded values.
  EXPECT_EQ(c.vision.dims, (std::vector<int64_t>{192, 384, 768, 1536}));
  EXPECT_EQ(c.vision.depths, (std::vector<int64_t>{3, 3, 27, 3}));
  EXPECT_EQ(c.extractor.embed_dim, 1024);
  EXPECT_EQ(c.extractor.mask_shape, 112);
  // The same file through the file path and the LLaMA-only entry point.
  EXPECT_EQ(regionlm::load_llama_config(dir / "config.json").intermediate_size, 11008);
}

TEST(Config, Transformers431DefaultsForAbsentKeys) {
  const regionlm::LlamaConfig c = regionlm::parse_llama_config(R"({"num_attention_heads": 8})", "cfg.json");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);  // follows num_attention_heads
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  const auto nulls = regionlm::parse_llama_config(R"({"num_key_value_heads": null, "pad_token_id": null})", "x");
  EXPECT_EQ(nulls.num_key_value_heads, 32);
  EXPECT_EQ(nulls.pad_token_id, 0);
}

TEST(Config, GroupedQueryAttentionAndTheta) {
  const auto c = regionlm::parse_llama_config(
      R"({"num_attention_heads": 32, "num_key_value_heads": 8, "rope_theta": 500000.0, "tie_word_embeddings": true})",
      "cfg.json");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(Config, RopeScalingVariants) {
  const auto linear = regionlm::parse_llama_config(R"({"rope_scaling": {"type": "linear", "factor": 2.0}})", "c");
  ASSERT_TRUE(linear.rope_scaling.has_value());
  EXPECT_EQ(linear.rope_scaling->type, "linear");
  EXPECT_DOUBLE_EQ(linear.rope_scaling->factor, 2.0);
  const auto dynamic = regionlm::parse_llama_config(R"({"rope_scaling": {"type": "dynamic", "factor": 4}})", "c");
  EXPECT_EQ(dynamic.rope_scaling->type, "dynamic");
  EXPECT_DOUBLE_EQ(dynamic.rope_scaling->factor, 4.0);

  EXPECT_NE(llama_error(R"({"rope_scaling": {"type": "yarn", "factor": 2.0}})").find("rope_scaling.type"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rope_scaling": {"type": "linear", "factor": 1.0}})").find("rope_scaling.factor"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rope_scaling": {"type": "linear", "factor": "2"}})").find("rope_scaling.factor"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rope_scaling": {"type": "linear"}})").find("'type' and 'factor'"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rope_scaling": {"type": "linear", "factor": 2, "x": 1}})").find("rope_scaling"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rope_scaling": "linear"})").find("rope_scaling"), std::string::npos);
}

TEST(Config, WrongTypesNameFileAndKey) {
  const std::string hidden = llama_error(R"({"hidden_size": "4096"})");
  EXPECT_NE(hidden.find("cfg.json"), std::string::npos) << hidden;
  EXPECT_NE(hidden.find("'hidden_size'"), std::string::npos) << hidden;
  EXPECT_NE(hidden.find("integer"), std::string::npos) << hidden;
  EXPECT_NE(llama_error(R"({"num_hidden_layers": 2.5})").find("'num_hidden_layers'"), std::string::npos);
  EXPECT_NE(llama_error(R"({"rms_norm_eps": "1e-5"})").find("'rms_norm_eps'"), std::string::npos);
  EXPECT_NE(llama_error(R"({"tie_word_embeddings": 1})").find("'tie_word_embeddings'"), std::string::npos);
  EXPECT_NE(llama_error(R"({"hidden_act": 3})").find("'hidden_act'"), std::string::npos);
  EXPECT_NE(llama_error(R"({"vocab_size": -1})").find("'vocab_size'"), std::string::npos);
}

TEST(Config, InconsistentOrUnsupportedValues) {
  EXPECT_NE(llama_error(R"({"hidden_size": 100, "num_attention_heads": 3})").find("divisible"), std::string::npos);
  EXPECT_NE(llama_error(R"({"num_attention_heads": 32, "num_key_value_heads": 5})").find("num_key_value_heads"),
            std::string::npos);
  EXPECT_NE(llama_error(R"({"hidden_act": "gelu"})").find("silu"), std::string::npos);
  EXPECT_NE(llama_error("[1, 2]").find("object"), std::string::npos);
  EXPECT_NE(llama_error("{\"a\": ").find("invalid JSON"), std::string::npos);
  const std::string projector =
      error_of<ConfigError>([] { regionlm::parse_osprey_config(R"({"mm_projector_type": "qformer"})", "cfg.json"); });
  EXPECT_NE(projector.find("mm_projector_type"), std::string::npos) << projector;
}

TEST(Config, RegionlmVisionAndExtractorExtensions) {
  const auto c = regionlm::parse_osprey_config(R"({
    "hidden_size": 64, "num_attention_heads": 4,
    "vision_config": {"depths": [1, 1, 2, 1], "dims": [8, 16, 32, 64], "layer_norm_eps": 1e-5,
                      "image_size": 64, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "token_level": 2},
    "mask_extractor_config": {"embed_dim": 24, "mask_shape": 16}
  })", "tiny.json");
  EXPECT_EQ(c.vision.depths, (std::vector<int64_t>{1, 1, 2, 1}));
  EXPECT_EQ(c.vision.dims, (std::vector<int64_t>{8, 16, 32, 64}));
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.vision.image_size, 64);
  EXPECT_FLOAT_EQ(c.vision.mean[1], 0.5f);
  EXPECT_FLOAT_EQ(c.vision.std[2], 0.25f);
  EXPECT_EQ(c.extractor.embed_dim, 24);
  EXPECT_EQ(c.extractor.mask_shape, 16);
  EXPECT_EQ(c.mm_hidden_size, 32);  // defaults to dims[token_level]

  const auto vision_error = [](const std::string& vision) {
    return error_of<ConfigError>(
        [&] { regionlm::parse_osprey_config(R"({"vision_config": )" + vision + "}", "tiny.json"); });
  };
  EXPECT_NE(vision_error(R"({"depths": [1, 1], "dims": [8, 16, 32]})").find("vision_config.dims"), std::string::npos);
  EXPECT_NE(vision_error(R"({"token_level": 4})").find("vision_config.token_level"), std::string::npos);
  EXPECT_NE(vision_error(R"({"mean": [0.5, 0.5]})").find("vision_config.mean"), std::string::npos);
  EXPECT_NE(vision_error(R"({"dims": [8, 0, 32, 64]})").find("vision_config.dims"), std::string::npos);
  EXPECT_NE(vision_error(R"([1])").find("'vision_config'"), std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] {
              regionlm::parse_osprey_config(R"({"mask_extractor_config": {"embed_dim": "x"}})", "tiny.json");
            }).find("mask_extractor_config.embed_dim"),
            std::string::npos);
}

TEST(Config, ArchitecturesNameTheModelFamily) {
  using regionlm::ModelFamily;
  using regionlm::parse_model_family;
  EXPECT_EQ(parse_model_family(R"({"architectures": ["OspreyLlamaForCausalLM"]})", "cfg.json"), ModelFamily::Osprey);
  EXPECT_EQ(parse_model_family(R"({"architectures": ["SPILlavaMPTForCausalLM"]})", "cfg.json"), ModelFamily::Gpt4roi);
  EXPECT_EQ(parse_model_family(R"({"hidden_size": 64})", "cfg.json"), ModelFamily::Osprey);  // older configs
  EXPECT_EQ(parse_model_family(R"({"architectures": null})", "cfg.json"), ModelFamily::Osprey);
  const std::string unknown =
      error_of<ConfigError>([] { parse_model_family(R"({"architectures": ["LlavaLlamaForCausalLM"]})", "cfg.json"); });
  EXPECT_NE(unknown.find("cfg.json: 'architectures'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("LlavaLlamaForCausalLM"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("SPILlavaMPTForCausalLM"), std::string::npos) << unknown;  // says what would do
  EXPECT_NE(error_of<ConfigError>([] {
              parse_model_family(R"({"architectures": "OspreyLlamaForCausalLM"})", "cfg.json");
            }).find("'architectures' must be a list of strings"),
            std::string::npos);
  EXPECT_NE(
      error_of<ConfigError>([] { parse_model_family(R"({"architectures": []})", "cfg.json"); }).find("'architectures'"),
      std::string::npos);
  EXPECT_STREQ(regionlm::to_string(ModelFamily::Gpt4roi), "gpt4roi");
  // The config regionlm writes names its family.
  EXPECT_EQ(parse_model_family(regionlm::osprey_config_json(regionlm::OspreyConfig{}), "w.json"), ModelFamily::Osprey);
}

TEST(Config, MissingFileIsIoError) {
  EXPECT_THROW(regionlm::load_osprey_config("/nonexistent/dir/config.json"), regionlm::IoError);
}
