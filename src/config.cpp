#include "regionlm/config.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "json_fields.hpp"
#include "regionlm/error.hpp"

namespace regionlm {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using Fields = JsonFields;

// transformers 4.31 validation: null, or exactly {"type": "linear"|"dynamic", "factor": > 1}.
std::optional<RopeScaling> parse_rope_scaling(const Fields& f) {
  if (!f.has("rope_scaling")) return std::nullopt;
  const json& v = f.raw("rope_scaling");
  if (!v.is_object() || v.size() != 2 || !v.contains("type") || !v.contains("factor")) {
    f.fail("rope_scaling", "an object with exactly the fields 'type' and 'factor'", v);
  }
  const Fields scaling = *f.object("rope_scaling");
  RopeScaling out;
  out.type = scaling.string("type", "");
  if (out.type != "linear" && out.type != "dynamic") {
    scaling.fail("type", "'linear' or 'dynamic'", v["type"]);
  }
  out.factor = scaling.number("factor", 0.0);
  if (!(out.factor > 1.0)) scaling.fail("factor", "a number > 1", v["factor"]);
  return out;
}

LlamaConfig parse_llama(const Fields& f) {
  LlamaConfig c;
  c.vocab_size = f.positive("vocab_size", c.vocab_size);
  c.hidden_size = f.positive("hidden_size", c.hidden_size);
  c.intermediate_size = f.positive("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = f.positive("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.positive("num_attention_heads", c.num_attention_heads);
  // transformers: num_key_value_heads = num_attention_heads when absent (no GQA).
  c.num_key_value_heads = f.positive("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = f.positive("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = f.number("rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = f.number("rope_theta", c.rope_theta);
  c.rope_scaling = parse_rope_scaling(f);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.hidden_act = f.string("hidden_act", c.hidden_act);
  c.bos_token_id = f.integer("bos_token_id", c.bos_token_id);
  c.eos_token_id = f.integer("eos_token_id", c.eos_token_id);
  c.pad_token_id = f.integer("pad_token_id", c.pad_token_id);

  if (c.hidden_act != "silu") f.fail("hidden_act", "is '" + c.hidden_act + "'; only 'silu' is supported");
  if (c.hidden_size % c.num_attention_heads != 0) {
    f.fail("hidden_size", "(" + std::to_string(c.hidden_size) + ") must be divisible by num_attention_heads (" +
                              std::to_string(c.num_attention_heads) + ")");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", "(" + std::to_string(c.num_key_value_heads) +
                                      ") must divide num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + ")");
  }
  if (!(c.rms_norm_eps > 0)) f.fail("rms_norm_eps", "must be > 0");
  if (!(c.rope_theta > 0)) f.fail("rope_theta", "must be > 0");
  return c;
}

VisionConfig parse_vision(const Fields& f) {
  VisionConfig c;
  c.depths = f.positive_list("depths", c.depths);
  c.dims = f.positive_list("dims", c.dims);
  c.layer_norm_eps = f.number("layer_norm_eps", c.layer_norm_eps);
  c.image_size = f.positive("image_size", c.image_size);
  c.mean = f.triple("mean", c.mean);
  c.std = f.triple("std", c.std);
  c.token_level = f.integer("token_level", c.token_level);
  if (c.depths.size() != c.dims.size()) {
    f.fail("dims", "has " + std::to_string(c.dims.size()) + " entries but depths has " +
                       std::to_string(c.depths.size()));
  }
  if (c.token_level < 0 || c.token_level >= static_cast<int64_t>(c.dims.size())) {
    f.fail("token_level", "must index a stage (0.." + std::to_string(c.dims.size() - 1) + ")");
  }
  if (!(c.layer_norm_eps > 0)) f.fail("layer_norm_eps", "must be > 0");
  for (float s : c.std) {
    if (!(s > 0)) f.fail("std", "must be positive");
  }
  return c;
}

ExtractorConfig parse_extractor(const Fields& f) {
  ExtractorConfig c;
  c.embed_dim = f.positive("embed_dim", c.embed_dim);
  c.mask_shape = f.positive("mask_shape", c.mask_shape);
  return c;
}

}  // namespace

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  const json root = parse_json_object(json_text, source);
  return parse_llama(Fields(root, source, ""));
}

OspreyConfig parse_osprey_config(const std::string& json_text, const std::string& source) {
  const json root = parse_json_object(json_text, source);
  const Fields f(root, source, "");
  OspreyConfig c;
  c.text = parse_llama(f);
  if (const auto vision = f.object("vision_config")) c.vision = parse_vision(*vision);
  if (const auto extractor = f.object("mask_extractor_config")) c.extractor = parse_extractor(*extractor);
  c.mm_projector_type = f.string("mm_projector_type", c.mm_projector_type);
  try {
    projector_linear_count(c.mm_projector_type);
  } catch (const ConfigError& e) {
    f.fail("mm_projector_type", std::string("is not supported: ") + e.what());
  }
  const int64_t token_width = c.vision.dims[static_cast<size_t>(c.vision.token_level)];
  c.mm_hidden_size = f.positive("mm_hidden_size", token_width);
  if (c.mm_hidden_size != token_width) {
    f.fail("mm_hidden_size", "(" + std::to_string(c.mm_hidden_size) + ") differs from the width of vision stage token_level " +
                                 std::to_string(c.vision.token_level) + " (" + std::to_string(token_width) + ")");
  }
  c.mm_vision_tower = f.string("mm_vision_tower", c.mm_vision_tower);
  c.model_type = f.string("model_type", c.model_type);
  c.torch_dtype = f.string("torch_dtype", c.torch_dtype);
  c.conversation_template = f.string("conversation_template", c.conversation_template);
  c.image_prefix = f.string("image_prefix", c.image_prefix);
  return c;
}

int64_t projector_linear_count(const std::string& type) {
  if (type == "linear") return 1;
  const std::string head = "mlp", tail = "x_gelu";
  if (type.size() > head.size() + tail.size() && type.starts_with(head) && type.ends_with(tail)) {
    const std::string digits = type.substr(head.size(), type.size() - head.size() - tail.size());
    if (digits.size() <= 2 && digits[0] != '0' && digits.find_first_not_of("0123456789") == std::string::npos) {
      return std::stoll(digits);
    }
  }
  throw ConfigError("mm_projector_type '" + type + "': expected \"linear\" or \"mlp<N>x_gelu\" (Osprey: \"mlp2x_gelu\")");
}

std::string osprey_config_json(const OspreyConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {kOspreyArchitecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.text.vocab_size;
  j["hidden_size"] = c.text.hidden_size;
  j["intermediate_size"] = c.text.intermediate_size;
  j["num_hidden_layers"] = c.text.num_hidden_layers;
  j["num_attention_heads"] = c.text.num_attention_heads;
  j["num_key_value_heads"] = c.text.num_key_value_heads;
  j["max_position_embeddings"] = c.text.max_position_embeddings;
  j["rms_norm_eps"] = c.text.rms_norm_eps;
  j["rope_theta"] = c.text.rope_theta;
  if (c.text.rope_scaling) {
    j["rope_scaling"] = {{"type", c.text.rope_scaling->type}, {"factor", c.text.rope_scaling->factor}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["hidden_act"] = c.text.hidden_act;
  j["tie_word_embeddings"] = c.text.tie_word_embeddings;
  j["bos_token_id"] = c.text.bos_token_id;
  j["eos_token_id"] = c.text.eos_token_id;
  j["pad_token_id"] = c.text.pad_token_id;
  j["torch_dtype"] = c.torch_dtype;
  j["mm_projector_type"] = c.mm_projector_type;
  j["mm_hidden_size"] = c.mm_hidden_size;
  j["mm_use_im_start_end"] = false;
  if (!c.mm_vision_tower.empty()) j["mm_vision_tower"] = c.mm_vision_tower;
  j["vision_config"] = {{"depths", c.vision.depths},
                        {"dims", c.vision.dims},
                        {"layer_norm_eps", c.vision.layer_norm_eps},
                        {"image_size", c.vision.image_size},
                        {"mean", c.vision.mean},
                        {"std", c.vision.std},
                        {"token_level", c.vision.token_level}};
  j["mask_extractor_config"] = {{"embed_dim", c.extractor.embed_dim}, {"mask_shape", c.extractor.mask_shape}};
  if (!c.conversation_template.empty()) j["conversation_template"] = c.conversation_template;
  if (!c.image_prefix.empty()) j["image_prefix"] = c.image_prefix;
  return j.dump(2) + "\n";
}

const char* to_string(ModelFamily family) {
  switch (family) {
    case ModelFamily::Osprey: return "osprey";
    case ModelFamily::Gpt4roi: return "gpt4roi";
  }
  return "unknown";
}

ModelFamily parse_model_family(const std::string& json_text, const std::string& source) {
  const json root = parse_json_object(json_text, source);
  const Fields f(root, source);
  if (!f.has("architectures")) return ModelFamily::Osprey;
  const std::vector<std::string> names = f.string_list("architectures");
  for (const std::string& name : names) {
    if (name == kGpt4roiArchitecture) return ModelFamily::Gpt4roi;
    if (name == kOspreyArchitecture) return ModelFamily::Osprey;
  }
  f.fail("architectures", std::string("names no architecture regionlm serves (") + root["architectures"].dump() +
                              "; expected [\"" + kOspreyArchitecture + "\"] for Osprey or [\"" +
                              kGpt4roiArchitecture + "\"] for GPT4RoI)");
}

ModelFamily load_model_family(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_config_text(file_or_dir, file);
  return parse_model_family(text, file.string());
}

std::string read_config_json(const fs::path& file_or_dir, fs::path& file) { return read_config_text(file_or_dir, file); }

OspreyConfig load_osprey_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_config_text(file_or_dir, file);
  return parse_osprey_config(text, file.string());
}

LlamaConfig load_llama_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_config_text(file_or_dir, file);
  return parse_llama_config(text, file.string());
}

}  // namespace regionlm
