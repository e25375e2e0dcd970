#include "regionlm/sam/config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "io/strict_json.hpp"
#include "regionlm/error.hpp"

namespace regionlm::sam {

namespace {

using json = nlohmann::json;

std::string list_text(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

std::string shape_of(const std::vector<int64_t>& shape) { return list_text(shape); }

// The shape of `key`, which must exist and have `rank` dimensions.
std::vector<int64_t> shape_of_key(const Weights& w, const std::string& key, size_t rank) {
  if (!w.contains(key)) {
    throw WeightError("SAM weights " + w.origin().string() + ": missing key '" + key + "'");
  }
  auto shape = w.shape(key);
  if (shape.size() != rank) {
    throw WeightError("SAM weights " + w.origin().string() + ": key '" + key + "' has shape " +
                      shape_of(shape) + ", expected " + std::to_string(rank) + " dimensions");
  }
  return shape;
}

[[noreturn]] void bad_shape(const Weights& w, const std::string& key, const std::string& why) {
  throw WeightError("SAM weights " + w.origin().string() + ": key '" + key + "' has shape " +
                    shape_of(w.shape(key)) + ": " + why);
}

// Number of consecutive indices i (from 0) such that some key starts with `prefix + i + "."`.
int64_t count_indexed(const Weights& w, const std::string& prefix) {
  std::set<int64_t> seen;
  for (const auto& name : w.names_with_prefix(prefix)) {
    const auto rest = name.substr(prefix.size());
    const auto dot = rest.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    const auto index = rest.substr(0, dot);
    if (!std::all_of(index.begin(), index.end(), ::isdigit) || index.size() > 6) continue;
    seen.insert(std::stoll(index));
  }
  int64_t n = 0;
  while (seen.count(n)) ++n;
  return n;
}

void detect_vit(const Weights& w, SamConfig& cfg) {
  const std::string p = "image_encoder.";
  const auto patch = shape_of_key(w, p + "patch_embed.proj.weight", 4);  // [E, 3, p, p]
  if (patch[1] != 3 || patch[2] != patch[3] || patch[2] <= 0) {
    bad_shape(w, p + "patch_embed.proj.weight", "expected [embed_dim, 3, patch, patch]");
  }
  cfg.encoder_embed_dim = patch[0];
  cfg.vit_patch_size = patch[2];
  const auto pos = shape_of_key(w, p + "pos_embed", 4);  // [1, G, G, E]
  if (pos[0] != 1 || pos[1] != pos[2] || pos[3] != cfg.encoder_embed_dim || pos[1] <= 0) {
    bad_shape(w, p + "pos_embed", "expected [1, grid, grid, " +
                                      std::to_string(cfg.encoder_embed_dim) + "]");
  }
  const int64_t grid = pos[1];
  cfg.image_size = grid * cfg.vit_patch_size;
  cfg.encoder_depth = count_indexed(w, p + "blocks.");
  if (cfg.encoder_depth == 0) {
    throw WeightError("SAM weights " + w.origin().string() + ": missing key '" + p +
                      "blocks.0.attn.rel_pos_h' (no ViT blocks)");
  }
  cfg.encoder_global_attn_indexes.clear();
  int64_t window = 0;
  int64_t head_dim = 0;
  for (int64_t i = 0; i < cfg.encoder_depth; ++i) {
    const std::string key = p + "blocks." + std::to_string(i) + ".attn.rel_pos_h";
    const auto rel = shape_of_key(w, key, 2);  // [2 * size - 1, head_dim]
    if (rel[0] % 2 == 0 || rel[1] <= 0) bad_shape(w, key, "expected [2 * size - 1, head_dim]");
    if (head_dim == 0) head_dim = rel[1];
    if (rel[1] != head_dim) bad_shape(w, key, "head width differs from block 0's " + std::to_string(head_dim));
    const int64_t size = (rel[0] + 1) / 2;
    if (size == grid) {
      cfg.encoder_global_attn_indexes.push_back(i);
    } else {
      if (window != 0 && size != window) {
        bad_shape(w, key, "window " + std::to_string(size) + " differs from the other windowed blocks' " +
                              std::to_string(window));
      }
      window = size;
    }
  }
  if (cfg.encoder_embed_dim % head_dim != 0) {
    bad_shape(w, p + "blocks.0.attn.rel_pos_h",
              "head width does not divide the embedding width " + std::to_string(cfg.encoder_embed_dim));
  }
  cfg.encoder_num_heads = cfg.encoder_embed_dim / head_dim;
  cfg.window_size = window;  // 0: every block global
  const auto mlp = shape_of_key(w, p + "blocks.0.mlp.lin1.weight", 2);
  cfg.vit_mlp_dim = mlp[0];
  const auto neck = shape_of_key(w, p + "neck.0.weight", 4);  // [P, E, 1, 1]
  cfg.prompt_embed_dim = neck[0];
}

void detect_tiny_vit(const Weights& w, SamConfig& cfg) {
  const std::string p = "image_encoder.";
  const int64_t stages = count_indexed(w, p + "layers.");
  if (stages < 2) {
    throw WeightError("SAM weights " + w.origin().string() + ": TinyViT needs at least 2 stages "
                      "under '" + p + "layers.', found " + std::to_string(stages));
  }
  const auto stem = shape_of_key(w, p + "patch_embed.seq.2.c.weight", 4);  // [e0, e0/2, 3, 3]
  cfg.embed_dims.assign(1, stem[0]);
  cfg.depths.clear();
  std::vector<int64_t> heads(stages, 1), windows(stages, 7);
  for (int64_t s = 0; s < stages; ++s) {
    const std::string layer = p + "layers." + std::to_string(s) + ".";
    cfg.depths.push_back(count_indexed(w, layer + "blocks."));
    if (cfg.depths.back() == 0) {
      throw WeightError("SAM weights " + w.origin().string() + ": no blocks under '" + layer + "blocks.'");
    }
    if (s + 1 < stages) {
      const auto down = shape_of_key(w, layer + "downsample.conv1.c.weight", 4);  // [out, in, 1, 1]
      cfg.embed_dims.push_back(down[0]);
    }
    if (s == 0) {
      const auto conv1 = shape_of_key(w, layer + "blocks.0.conv1.c.weight", 4);  // [hidden, dim, 1, 1]
      if (conv1[0] % cfg.embed_dims[0] != 0) {
        bad_shape(w, layer + "blocks.0.conv1.c.weight", "hidden width is not a multiple of " +
                                                             std::to_string(cfg.embed_dims[0]));
      }
      cfg.mbconv_hidden_ratio = conv1[0] / cfg.embed_dims[0];
    } else {
      const std::string key = layer + "blocks.0.attn.attention_biases";
      const auto bias = shape_of_key(w, key, 2);  // [heads, window * window]
      const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(bias[1]))));
      if (side * side != bias[1] || bias[0] <= 0) bad_shape(w, key, "expected [heads, window * window]");
      heads[s] = bias[0];
      windows[s] = side;
      if (s == 1) {
        const auto fc1 = shape_of_key(w, layer + "blocks.0.mlp.fc1.weight", 2);  // [hidden, dim]
        cfg.tiny_mlp_ratio = fc1[0] / std::max<int64_t>(fc1[1], 1);
        const auto local = shape_of_key(w, layer + "blocks.0.local_conv.c.weight", 4);  // [dim, 1, k, k]
        cfg.local_conv_size = local[2];
      }
    }
  }
  cfg.num_heads = heads;
  cfg.window_sizes = windows;
  const auto neck = shape_of_key(w, p + "neck.0.weight", 4);  // [P, e_last, 1, 1]
  cfg.prompt_embed_dim = neck[0];
  cfg.image_size = 1024;  // not in the weights; sam_config.json may say otherwise
}

void detect_heads(const Weights& w, SamConfig& cfg) {
  const auto gauss = shape_of_key(w, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2);
  if (gauss[0] != 2 || gauss[1] * 2 != cfg.prompt_embed_dim) {
    bad_shape(w, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
              "expected [2, " + std::to_string(cfg.prompt_embed_dim / 2) + "] (prompt_embed_dim " +
                  std::to_string(cfg.prompt_embed_dim) + " from the image encoder's neck)");
  }
  const auto mask_in = shape_of_key(w, "prompt_encoder.mask_downscaling.3.weight", 4);
  cfg.mask_in_chans = mask_in[0];
  cfg.decoder_depth = count_indexed(w, "mask_decoder.transformer.layers.");
  if (cfg.decoder_depth == 0) {
    throw WeightError("SAM weights " + w.origin().string() +
                      ": missing key 'mask_decoder.transformer.layers.0.self_attn.q_proj.weight'");
  }
  const auto mlp = shape_of_key(w, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 2);
  cfg.decoder_mlp_dim = mlp[0];
  const auto cross = shape_of_key(w, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight", 2);
  if (cross[0] <= 0 || cfg.prompt_embed_dim % cross[0] != 0) {
    bad_shape(w, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight",
              "internal width does not divide prompt_embed_dim " + std::to_string(cfg.prompt_embed_dim));
  }
  cfg.attention_downsample_rate = cfg.prompt_embed_dim / cross[0];
  const auto tokens = shape_of_key(w, "mask_decoder.mask_tokens.weight", 2);
  if (tokens[0] < 2) bad_shape(w, "mask_decoder.mask_tokens.weight", "expected at least 2 mask tokens");
  cfg.num_multimask_outputs = tokens[0] - 1;
  cfg.iou_head_depth = count_indexed(w, "mask_decoder.iou_prediction_head.layers.");
  if (cfg.iou_head_depth == 0) {
    throw WeightError("SAM weights " + w.origin().string() +
                      ": missing key 'mask_decoder.iou_prediction_head.layers.0.weight'");
  }
  if (cfg.iou_head_depth > 1) {
    cfg.iou_head_hidden_dim = shape_of_key(w, "mask_decoder.iou_prediction_head.layers.0.weight", 2)[0];
  }
}

// Reads an integer / integer list from the config JSON, with the key in errors.
int64_t int_value(const json& value, const std::string& key, const std::string& file) {
  if (!value.is_number_integer()) {
    throw ConfigError(file + ": '" + key + "' must be an integer, got " + value.dump());
  }
  return value.get<int64_t>();
}

std::vector<int64_t> list_value(const json& value, const std::string& key, const std::string& file) {
  if (!value.is_array()) throw ConfigError(file + ": '" + key + "' must be a list of integers, got " + value.dump());
  std::vector<int64_t> out;
  for (const auto& item : value) out.push_back(int_value(item, key, file));
  return out;
}

}  // namespace

int64_t SamConfig::embedding_size() const {
  return encoder == EncoderKind::Vit ? image_size / vit_patch_size : image_size / 16;
}

int64_t SamConfig::low_res_size() const { return 4 * embedding_size(); }

std::string SamConfig::encoder_name() const { return encoder == EncoderKind::Vit ? "vit" : "tiny_vit"; }

std::string SamConfig::describe() const {
  std::ostringstream out;
  if (encoder == EncoderKind::Vit) {
    out << "ViT (embed " << encoder_embed_dim << ", depth " << encoder_depth << ", heads "
        << encoder_num_heads << ", global blocks " << list_text(encoder_global_attn_indexes)
        << ", window " << window_size << ")";
  } else {
    out << "TinyViT (dims " << list_text(embed_dims) << ", depths " << list_text(depths) << ")";
  }
  out << ", image " << image_size << ", prompt width " << prompt_embed_dim;
  return out.str();
}

SamConfig detect_config(const Weights& weights) {
  SamConfig cfg;
  if (weights.contains("image_encoder.pos_embed") ||
      weights.contains("image_encoder.patch_embed.proj.weight")) {
    cfg.encoder = EncoderKind::Vit;
    detect_vit(weights, cfg);
  } else if (weights.contains("image_encoder.patch_embed.seq.0.c.weight")) {
    cfg.encoder = EncoderKind::TinyVit;
    detect_tiny_vit(weights, cfg);
  } else {
    throw WeightError("SAM weights " + weights.origin().string() +
                      ": neither 'image_encoder.patch_embed.proj.weight' (ViT) nor "
                      "'image_encoder.patch_embed.seq.0.c.weight' (TinyViT) found; is this a "
                      "SAM / MobileSAM state dict?");
  }
  detect_heads(weights, cfg);
  return cfg;
}

SamConfig apply_config_file(const SamConfig& detected, const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot read SAM config " + file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const json root = io::parse_strict_json(text.data(), text.data() + text.size(), file.string());
  const std::string name = file.string();
  if (!root.is_object()) throw ConfigError(name + ": expected a JSON object");

  SamConfig cfg = detected;
  auto contradiction = [&](const std::string& key, const std::string& stated, const std::string& found) {
    throw ConfigError(name + ": '" + key + "' is " + stated + " but the weights say " + found);
  };
  auto same_int = [&](const std::string& key, int64_t stated, int64_t found) {
    if (stated != found) contradiction(key, std::to_string(stated), std::to_string(found));
  };
  auto same_list = [&](const std::string& key, const std::vector<int64_t>& stated,
                       const std::vector<int64_t>& found) {
    if (stated != found) contradiction(key, list_text(stated), list_text(found));
  };
  const bool vit = detected.encoder == EncoderKind::Vit;
  static const std::set<std::string> vit_keys = {"encoder_embed_dim", "encoder_depth", "encoder_num_heads",
                                                 "encoder_global_attn_indexes", "window_size",
                                                 "vit_patch_size"};
  static const std::set<std::string> tiny_keys = {"embed_dims", "depths", "num_heads", "window_sizes"};
  for (const auto& [key, value] : root.items()) {
    if (key == "encoder") {
      if (!value.is_string() || (value != "vit" && value != "tiny_vit")) {
        throw ConfigError(name + ": 'encoder' must be \"vit\" or \"tiny_vit\", got " + value.dump());
      }
      if (value.get<std::string>() != detected.encoder_name()) {
        contradiction(key, value.dump(), "\"" + detected.encoder_name() + "\"");
      }
    } else if (key == "image_size") {
      const int64_t size = int_value(value, key, name);
      if (vit) {
        same_int(key, size, detected.image_size);
      } else {
        if (size <= 0 || size % 16 != 0) {
          throw ConfigError(name + ": 'image_size' must be a positive multiple of 16, got " +
                            std::to_string(size));
        }
        cfg.image_size = size;
      }
    } else if (key == "refinement_passes") {
      const int64_t passes = int_value(value, key, name);
      if (passes < 0 || passes > kMaxRefinementPasses) {
        throw ConfigError(name + ": 'refinement_passes' must be 0 .. " + std::to_string(kMaxRefinementPasses) +
                          ", got " + std::to_string(passes));
      }
      cfg.refinement_passes = passes;
    } else if (key == "prompt_embed_dim") {
      same_int(key, int_value(value, key, name), detected.prompt_embed_dim);
    } else if (vit_keys.count(key)) {
      if (!vit) throw ConfigError(name + ": '" + key + "' is a ViT setting but the weights hold a TinyViT encoder");
      if (key == "encoder_embed_dim") same_int(key, int_value(value, key, name), detected.encoder_embed_dim);
      if (key == "encoder_depth") same_int(key, int_value(value, key, name), detected.encoder_depth);
      if (key == "encoder_num_heads") same_int(key, int_value(value, key, name), detected.encoder_num_heads);
      if (key == "vit_patch_size") same_int(key, int_value(value, key, name), detected.vit_patch_size);
      if (key == "encoder_global_attn_indexes") {
        auto stated = list_value(value, key, name);
        std::sort(stated.begin(), stated.end());
        same_list(key, stated, detected.encoder_global_attn_indexes);
      }
      if (key == "window_size") {
        const int64_t stated = int_value(value, key, name);
        // With every block global the weights say nothing about the window.
        if (detected.window_size != 0) same_int(key, stated, detected.window_size);
      }
    } else if (tiny_keys.count(key)) {
      if (vit) throw ConfigError(name + ": '" + key + "' is a TinyViT setting but the weights hold a ViT encoder");
      const auto stated = list_value(value, key, name);
      if (stated.size() != detected.depths.size()) {
        contradiction(key, list_text(stated), std::to_string(detected.depths.size()) + " stages");
      }
      if (key == "embed_dims") same_list(key, stated, detected.embed_dims);
      if (key == "depths") same_list(key, stated, detected.depths);
      // Stage 0 is convolutional: its heads and window are not in the weights.
      // (a named copy: clang before 16 cannot capture a structured binding)
      auto compare_tail = [&, &setting = key](const std::vector<int64_t>& found) {
        for (size_t s = 1; s < stated.size(); ++s) {
          if (stated[s] != found[s]) contradiction(setting, list_text(stated), list_text(found) + " (stages 1 on)");
        }
      };
      if (key == "num_heads") {
        compare_tail(detected.num_heads);
        cfg.num_heads[0] = stated[0];
      }
      if (key == "window_sizes") {
        compare_tail(detected.window_sizes);
        cfg.window_sizes[0] = stated[0];
      }
    } else {
      throw ConfigError(name + ": unknown key '" + key + "'");
    }
  }
  return cfg;
}

}  // namespace regionlm::sam
