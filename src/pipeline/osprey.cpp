#include "regionlm/osprey.hpp"

#include <torch/torch.h>

#include <fstream>

#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"

namespace regionlm {

OspreyImpl::OspreyImpl(OspreyConfig config, const torch::TensorOptions& options)
    : config_(std::move(config)), options_(options) {
  const OspreyConfig& c = config_;
  // Registration order is the order of named_parameters(): the trainer's initialisation draws
  // in it, so changing it changes what a seed trains.
  trunk = register_module("trunk", vision::ConvNeXt(c.vision, options));
  projector = register_module("projector",
                              vision::Projector(c.mm_projector_type, c.mm_hidden_size, c.text.hidden_size, options));
  mask_extractor = register_module(
      "mask_extractor", region::MaskExtractor(c.vision.dims, c.extractor.embed_dim, c.text.hidden_size,
                                              c.extractor.mask_shape, options.dtype(torch::kFloat32)));
  llama = register_module("llama", llm::Llama(c.text, options));
}

std::vector<OspreyImpl::Part> OspreyImpl::parts() {
  return {{"decoder", llama.ptr().get(), osprey_keys::kDecoder},
          {"projector", projector.ptr().get(), osprey_keys::kProjector},
          {"vision", trunk.ptr().get(), osprey_keys::kTrunk},
          {"mask extractor", mask_extractor.ptr().get(), osprey_keys::kExtractor}};
}

std::vector<std::pair<std::string, torch::Tensor>> OspreyImpl::checkpoint_tensors() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const Part& part : parts()) {
    for (const auto& p : part.module->named_parameters()) {
      out.emplace_back(part.prefix + p.key(), p.value().detach().contiguous());
    }
  }
  return out;
}

std::vector<torch::Tensor> OspreyImpl::vision_features(const torch::Tensor& pixels) {
  return trunk->forward(pixels);  // res2..res5, [B, C_l, S/2^(l+2), S/2^(l+2)]
}

torch::Tensor OspreyImpl::image_tokens(const std::vector<torch::Tensor>& features) {
  return projector->forward(features.at(static_cast<size_t>(config_.vision.token_level)));  // [B, N, hidden]
}

RegionTokens OspreyImpl::region_tokens(const std::vector<torch::Tensor>& features, const torch::Tensor& masks) {
  const auto tokens = mask_extractor->forward(features, masks);  // float32, as Osprey computes them
  RegionTokens out;
  out.mask_tokens = tokens.mask_tokens.to(options_.dtype());  // [Q, hidden]
  out.pos_tokens = tokens.pos_tokens.to(options_.dtype());    // [Q, hidden]
  return out;
}

torch::Tensor OspreyImpl::embed(const text::PromptLayout& layout, const torch::Tensor& image_tokens,
                                const RegionTokens& regions) const {
  const auto& table = llama->model->embed_tokens;
  return text::assemble_embeddings(
      layout, [&](const torch::Tensor& ids) { return table->forward(ids); },  // [T] -> [T, hidden]
      image_tokens, regions.mask_tokens, regions.pos_tokens);               // [1, L, hidden]
}

int64_t OspreyImpl::image_token_count() const {
  const int64_t side = config_.vision.image_size >> (config_.vision.token_level + 2);
  return side * side;
}

void save_osprey(Osprey& osprey, const std::filesystem::path& dir) {
  save_safetensors(dir / "model.safetensors", osprey->checkpoint_tensors(), {{"format", "pt"}});
  const std::filesystem::path config = dir / "config.json";
  std::ofstream out(config, std::ios::binary);
  out << osprey_config_json(osprey->config());
  if (!out) throw IoError("cannot write " + config.string());
}

}  // namespace regionlm
