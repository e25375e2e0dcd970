#include "tiny_osprey.hpp"

#include <torch/torch.h>

namespace regionlm::tiny_shapes {
namespace {

constexpr double kInitStd = 0.02;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

OspreyConfig make_config(const TinyModelSpec& spec, int64_t vocab_size) {
  OspreyConfig c;
  c.text.vocab_size = vocab_size;
  c.text.hidden_size = spec.hidden_size;
  c.text.intermediate_size = spec.intermediate_size;
  c.text.num_hidden_layers = spec.num_layers;
  c.text.num_attention_heads = spec.num_heads;
  c.text.num_key_value_heads = spec.num_heads;
  c.text.max_position_embeddings = spec.max_positions;
  c.text.rms_norm_eps = 1e-5;  // Vicuna-7B v1.5's value
  c.vision.depths = spec.depths;
  c.vision.dims = spec.dims;
  c.vision.image_size = spec.image_size;
  c.vision.token_level = spec.token_level;
  c.extractor.embed_dim = spec.embed_dim;
  c.extractor.mask_shape = spec.mask_shape;
  c.mm_hidden_size = spec.dims.at(static_cast<size_t>(spec.token_level));
  c.torch_dtype = "float32";
  return c;
}

nlohmann::ordered_json config_json(const OspreyConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"OspreyLlamaForCausalLM"};
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
  j["rope_scaling"] = nullptr;
  j["hidden_act"] = c.text.hidden_act;
  j["tie_word_embeddings"] = c.text.tie_word_embeddings;
  j["bos_token_id"] = c.text.bos_token_id;
  j["eos_token_id"] = c.text.eos_token_id;
  j["pad_token_id"] = c.text.pad_token_id;
  j["torch_dtype"] = c.torch_dtype;
  j["mm_projector_type"] = c.mm_projector_type;
  j["mm_hidden_size"] = c.mm_hidden_size;
  j["mm_use_im_start_end"] = false;
  j["vision_config"] = {{"depths", c.vision.depths},
                        {"dims", c.vision.dims},
                        {"layer_norm_eps", c.vision.layer_norm_eps},
                        {"image_size", c.vision.image_size},
                        {"mean", c.vision.mean},
                        {"std", c.vision.std},
                        {"token_level", c.vision.token_level}};
  j["mask_extractor_config"] = {{"embed_dim", c.extractor.embed_dim},
                                {"mask_shape", c.extractor.mask_shape}};
  return j;
}

TinyOspreyImpl::TinyOspreyImpl(const OspreyConfig& config) : config_(config) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU);
  trunk = register_module("trunk", vision::ConvNeXt(config.vision, options));
  projector = register_module(
      "projector", vision::Projector(config.mm_projector_type, config.mm_hidden_size,
                                     config.text.hidden_size, options));
  mask_extractor = register_module(
      "mask_extractor", region::MaskExtractor(config.vision.dims, config.extractor.embed_dim,
                                              config.text.hidden_size,
                                              config.extractor.mask_shape, options));
  llama = register_module("llama", llm::Llama(config.text, options));
}

void TinyOspreyImpl::initialize(double layer_scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    torch::Tensor t = p.value();
    if (t.dim() >= 2) {
      t.normal_(0.0, kInitStd);
    } else if (ends_with(name, ".gamma")) {
      t.fill_(layer_scale);
    } else if (ends_with(name, ".bias")) {
      t.zero_();
    } else {  // the remaining vectors are LayerNorm / RMSNorm scales
      t.fill_(1.0);
    }
  }
}

std::vector<std::pair<std::string, torch::Tensor>> TinyOspreyImpl::checkpoint_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const auto add = [&out](const torch::nn::Module& module, const std::string& prefix) {
    for (const auto& p : module.named_parameters()) {
      out.emplace_back(prefix + p.key(), p.value().detach().contiguous());
    }
  };
  add(*llama, "");  // its own names are the checkpoint's: model.*, lm_head.weight
  add(*projector, kProjectorPrefix);
  add(*trunk, kTrunkPrefix);
  add(*mask_extractor, kExtractorPrefix);
  return out;
}

}  // namespace regionlm::tiny_shapes
