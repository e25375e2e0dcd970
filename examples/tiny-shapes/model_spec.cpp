#include "model_spec.hpp"

#include <torch/torch.h>

namespace regionlm::tiny_shapes {
namespace {

constexpr double kInitStd = 0.02;

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

void initialize(torch::nn::Module& model, double layer_scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    torch::Tensor t = p.value();
    if (t.dim() >= 2) {
      t.normal_(0.0, kInitStd);
    } else if (name.ends_with(".gamma")) {
      t.fill_(layer_scale);
    } else if (name.ends_with(".bias")) {
      t.zero_();
    } else {  // the remaining vectors are LayerNorm / RMSNorm scales
      t.fill_(1.0);
    }
  }
}

}  // namespace regionlm::tiny_shapes
