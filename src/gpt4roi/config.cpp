#include "regionlm/gpt4roi/config.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "regionlm/error.hpp"

namespace regionlm::gpt4roi {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json parse(const std::string& text, const std::string& source) {
  try {
    json root = json::parse(text);
    if (!root.is_object()) throw ConfigError(source + ": expected a JSON object");
    return root;
  } catch (const json::exception& e) {
    throw ConfigError(source + ": not valid JSON (" + e.what() + ")");
  }
}

// Typed reads of one object; messages name the file and the key.
struct Reader {
  const json& object;
  std::string where;  // "config.json" or "config.json: vision_config"

  bool has(const char* key) const { return object.contains(key) && !object[key].is_null(); }
  [[noreturn]] void fail(const char* key, const char* expected) const {
    throw ConfigError(where + ": \"" + key + "\" must be " + expected + ", got " + object[key].dump());
  }
  int64_t integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_number_integer()) fail(key, "an integer");
    return object[key].get<int64_t>();
  }
  int64_t positive(const char* key, int64_t fallback) const {
    const int64_t v = integer(key, fallback);
    if (v <= 0) fail(key, "a positive integer");
    return v;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_number()) fail(key, "a number");
    return object[key].get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_boolean()) fail(key, "true or false");
    return object[key].get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_string()) fail(key, "a string");
    return object[key].get<std::string>();
  }
};

std::string read_text(const fs::path& file_or_dir, fs::path& file) {
  file = fs::is_directory(file_or_dir) ? file_or_dir / "config.json" : file_or_dir;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ClipVisionConfig parse_clip_vision_config(const std::string& json_text, const std::string& source) {
  const json root = parse(json_text, source);
  const bool nested = root.contains("vision_config") && root["vision_config"].is_object();
  const json& object = nested ? root["vision_config"] : root;
  const Reader r{object, nested ? source + ": vision_config" : source};
  ClipVisionConfig c;
  c.hidden_size = r.positive("hidden_size", c.hidden_size);
  c.intermediate_size = r.positive("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.positive("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.positive("num_attention_heads", c.num_attention_heads);
  c.num_channels = r.positive("num_channels", c.num_channels);
  c.image_size = r.positive("image_size", c.image_size);
  c.patch_size = r.positive("patch_size", c.patch_size);
  c.layer_norm_eps = r.number("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = r.string("hidden_act", c.hidden_act);
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu") {
    throw ConfigError(r.where + ": \"hidden_act\" \"" + c.hidden_act +
                      "\" is not supported (expected \"quick_gelu\" or \"gelu\")");
  }
  if (c.image_size % c.patch_size != 0) {
    throw ConfigError(r.where + ": \"patch_size\" " + std::to_string(c.patch_size) +
                      " does not divide \"image_size\" " + std::to_string(c.image_size));
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    throw ConfigError(r.where + ": \"num_attention_heads\" " + std::to_string(c.num_attention_heads) +
                      " does not divide \"hidden_size\" " + std::to_string(c.hidden_size));
  }
  return c;
}

ClipVisionConfig load_clip_vision_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_text(file_or_dir, file);
  return parse_clip_vision_config(text, file.string());
}

Gpt4roiConfig parse_gpt4roi_config(const std::string& json_text, const std::string& source) {
  const json root = parse(json_text, source);
  const Reader r{root, source};
  Gpt4roiConfig c;
  c.text = parse_llama_config(json_text, source);
  c.mm_vision_tower = r.string("mm_vision_tower", c.mm_vision_tower);
  c.mm_vision_select_layer = r.integer("mm_vision_select_layer", c.mm_vision_select_layer);
  c.mm_hidden_size = r.positive("mm_hidden_size", c.mm_hidden_size);
  c.mm_use_im_start_end = r.boolean("mm_use_im_start_end", c.mm_use_im_start_end);
  if (!c.mm_use_im_start_end) {
    throw ConfigError(source + ": \"mm_use_im_start_end\" false is not supported (GPT4RoI wraps "
                      "the image tokens in <im_start> .. <im_end>)");
  }
  if (root.contains("architectures") && root["architectures"].is_array()) {
    for (const auto& a : root["architectures"]) {
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
    }
  }
  if (root.contains("spi_module_config") && !root["spi_module_config"].is_null()) {
    if (!root["spi_module_config"].is_object()) {
      throw ConfigError(source + ": \"spi_module_config\" must be an object");
    }
    const Reader s{root["spi_module_config"], source + ": spi_module_config"};
    c.spi.num_levels = s.positive("num_levels", c.spi.num_levels);
    c.spi.num_fuse = s.positive("num_fuse", c.spi.num_fuse);
    c.spi.gn_groups = s.positive("gn_groups", c.spi.gn_groups);
    c.spi.roi_output_size = s.positive("roi_output_size", c.spi.roi_output_size);
    c.spi.sampling_ratio = s.positive("sampling_ratio", c.spi.sampling_ratio);
    c.spi.query_dims = s.positive("query_dims", c.spi.query_dims);
    c.spi.pos_hidden_dims = s.positive("pos_hidden_dims", c.spi.pos_hidden_dims);
  }
  return c;
}

Gpt4roiConfig load_gpt4roi_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_text(file_or_dir, file);
  return parse_gpt4roi_config(text, file.string());
}

bool is_gpt4roi_config(const std::string& json_text) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object() || !root.contains("architectures") || !root["architectures"].is_array()) {
    return false;
  }
  for (const auto& a : root["architectures"]) {
    if (a.is_string() && a.get<std::string>() == "SPILlavaMPTForCausalLM") return true;
  }
  return false;
}

HiddenStateIndices hidden_state_indices(int64_t num_layers, int64_t select_layer,
                                        int64_t num_levels) {
  const int64_t states = num_layers + 1;  // embeddings + one per encoder layer
  const int64_t image = select_layer < 0 ? states + select_layer : select_layer;
  if (image < 0 || image >= states) {
    throw ConfigError("mm_vision_select_layer " + std::to_string(select_layer) +
                      " is outside the vision tower's " + std::to_string(states) +
                      " hidden states");
  }
  std::vector<int64_t> stepped;  // hidden_states[image::-3]
  for (int64_t i = image; i >= 0; i -= 3) stepped.push_back(i);
  if (static_cast<int64_t>(stepped.size()) < num_levels) {
    throw ConfigError("the vision tower has " + std::to_string(num_layers) +
                      " layers: hidden_states[" + std::to_string(select_layer) + "::-3] gives " +
                      std::to_string(stepped.size()) + " states, the region branch needs " +
                      std::to_string(num_levels));
  }
  HiddenStateIndices out;
  out.image = image;
  // Reversed (ascending), then the last num_levels = the first num_levels of `stepped`.
  for (int64_t k = num_levels - 1; k >= 0; --k) out.regions.push_back(stepped[static_cast<size_t>(k)]);
  return out;
}

}  // namespace regionlm::gpt4roi
