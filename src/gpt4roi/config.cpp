#include "regionlm/gpt4roi/config.hpp"

#include "json_fields.hpp"
#include "regionlm/error.hpp"

namespace regionlm::gpt4roi {
namespace fs = std::filesystem;

ClipVisionConfig parse_clip_vision_config(const std::string& json_text, const std::string& source) {
  const auto root = parse_json_object(json_text, source);
  const JsonFields top(root, source);
  // A CLIPModel config nests the tower's fields under "vision_config"; a CLIPVisionModel's are
  // at the top level.
  const std::optional<JsonFields> nested = top.object("vision_config");
  const JsonFields& r = nested ? *nested : top;
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
    r.fail("hidden_act", "\"" + c.hidden_act + "\" is not supported (expected \"quick_gelu\" or \"gelu\")");
  }
  if (c.image_size % c.patch_size != 0) {
    r.fail("patch_size", "(" + std::to_string(c.patch_size) + ") does not divide image_size (" +
                             std::to_string(c.image_size) + ")");
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    r.fail("num_attention_heads", "(" + std::to_string(c.num_attention_heads) + ") does not divide hidden_size (" +
                                      std::to_string(c.hidden_size) + ")");
  }
  return c;
}

ClipVisionConfig load_clip_vision_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_config_text(file_or_dir, file);
  return parse_clip_vision_config(text, file.string());
}

Gpt4roiConfig parse_gpt4roi_config(const std::string& json_text, const std::string& source) {
  const auto root = parse_json_object(json_text, source);
  const JsonFields r(root, source);
  Gpt4roiConfig c;
  c.text = parse_llama_config(json_text, source);
  c.mm_vision_tower = r.string("mm_vision_tower", c.mm_vision_tower);
  c.mm_vision_select_layer = r.integer("mm_vision_select_layer", c.mm_vision_select_layer);
  c.mm_hidden_size = r.positive("mm_hidden_size", c.mm_hidden_size);
  c.mm_use_im_start_end = r.boolean("mm_use_im_start_end", c.mm_use_im_start_end);
  if (!c.mm_use_im_start_end) {
    r.fail("mm_use_im_start_end", "false is not supported (GPT4RoI wraps the image tokens in <im_start> .. <im_end>)");
  }
  c.architectures = r.string_list("architectures");
  if (const auto s = r.object("spi_module_config")) {
    c.spi.num_levels = s->positive("num_levels", c.spi.num_levels);
    c.spi.num_fuse = s->positive("num_fuse", c.spi.num_fuse);
    c.spi.gn_groups = s->positive("gn_groups", c.spi.gn_groups);
    c.spi.roi_output_size = s->positive("roi_output_size", c.spi.roi_output_size);
    c.spi.sampling_ratio = s->positive("sampling_ratio", c.spi.sampling_ratio);
    c.spi.query_dims = s->positive("query_dims", c.spi.query_dims);
    c.spi.pos_hidden_dims = s->positive("pos_hidden_dims", c.spi.pos_hidden_dims);
  }
  return c;
}

Gpt4roiConfig load_gpt4roi_config(const fs::path& file_or_dir) {
  fs::path file;
  const std::string text = read_config_text(file_or_dir, file);
  return parse_gpt4roi_config(text, file.string());
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
