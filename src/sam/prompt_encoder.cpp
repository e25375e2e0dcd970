#include "regionlm/sam/prompt_encoder.hpp"

#include <torch/torch.h>

#include <cmath>

namespace regionlm::sam {

PromptEncoderImpl::PromptEncoderImpl(const SamConfig& cfg, const torch::TensorOptions& options)
    : embed_dim_(cfg.prompt_embed_dim), image_size_(cfg.image_size), embedding_size_(cfg.embedding_size()) {
  const int64_t P = cfg.prompt_embed_dim;
  auto pe_layer = register_module("pe_layer", std::make_shared<torch::nn::Module>("PositionEmbeddingRandom"));
  // The encoding is computed in float32 as the reference does, whatever the model dtype.
  gaussian = pe_layer->register_buffer("positional_encoding_gaussian_matrix",
                                       torch::empty({2, P / 2}, options.dtype(torch::kFloat32)));
  point_embeddings = register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i) point_embeddings->push_back(Embedding(1, P, options));
  not_a_point_embed = register_module("not_a_point_embed", Embedding(1, P, options));
  const int64_t m = cfg.mask_in_chans;
  mask_downscaling = register_module(
      "mask_downscaling",
      torch::nn::Sequential(Conv2d(ConvSpec{1, m / 4, 2, 2}, options), LayerNorm2d(m / 4, 1e-6, options),
                            torch::nn::Functional([](const torch::Tensor& x) { return torch::gelu(x); }),
                            Conv2d(ConvSpec{m / 4, m, 2, 2}, options), LayerNorm2d(m, 1e-6, options),
                            torch::nn::Functional([](const torch::Tensor& x) { return torch::gelu(x); }),
                            Conv2d(ConvSpec{m, P, 1}, options)));
  no_mask_embed = register_module("no_mask_embed", Embedding(1, P, options));
}

torch::Tensor PromptEncoderImpl::point_embedding(int64_t i) {
  return point_embeddings[i]->as<EmbeddingImpl>()->weight[0];  // [P]
}

torch::Tensor PromptEncoderImpl::encode_unit_coords(const torch::Tensor& unit_xy) {
  auto c = 2 * unit_xy.to(torch::kFloat32) - 1;  // [..., 2]
  c = torch::matmul(c, gaussian);                // [..., P / 2]
  c = 2 * M_PI * c;                              // [..., P / 2]
  return torch::cat({torch::sin(c), torch::cos(c)}, -1).to(not_a_point_embed->weight.scalar_type());  // [..., P]
}

torch::Tensor PromptEncoderImpl::dense_positional_encoding() {
  const int64_t e = embedding_size_;
  const auto grid = torch::ones({e, e}, torch::TensorOptions().dtype(torch::kFloat32).device(gaussian.device()));
  const auto y = (grid.cumsum(0) - 0.5) / e;  // [e, e]
  const auto x = (grid.cumsum(1) - 0.5) / e;  // [e, e]
  return encode_unit_coords(torch::stack({x, y}, -1)).permute({2, 0, 1}).unsqueeze(0);  // [1, P, e, e]
}

std::pair<torch::Tensor, torch::Tensor> PromptEncoderImpl::forward(const torch::Tensor& points,
                                                                   const torch::Tensor& labels,
                                                                   const torch::Tensor& boxes,
                                                                   const torch::Tensor& masks, int64_t batch) {
  const auto dtype = not_a_point_embed->weight.scalar_type();
  const auto device = not_a_point_embed->weight.device();
  if (points.defined()) batch = points.size(0);
  else if (boxes.defined()) batch = boxes.size(0);
  else if (masks.defined()) batch = masks.size(0);
  std::vector<torch::Tensor> sparse;
  if (points.defined()) {
    auto xy = points + 0.5;  // [B, N, 2] pixel centres
    auto lab = labels;       // [B, N]
    if (!boxes.defined()) {
      xy = torch::cat({xy, torch::zeros({batch, 1, 2}, xy.options())}, 1);             // [B, N + 1, 2]
      lab = torch::cat({lab, torch::full({batch, 1}, -1, lab.options())}, 1);          // [B, N + 1]
    }
    const auto size = torch::tensor({static_cast<double>(image_size_), static_cast<double>(image_size_)},
                                    xy.options());
    auto pe = encode_unit_coords(xy / size);          // [B, T, P]
    const auto l = lab.unsqueeze(-1);                 // [B, T, 1]
    pe = torch::where(l == -1, torch::zeros_like(pe), pe);
    pe = pe + (l == -1).to(dtype) * not_a_point_embed->weight[0] + (l == 0).to(dtype) * point_embedding(0) +
         (l == 1).to(dtype) * point_embedding(1);  // [B, T, P]
    sparse.push_back(pe);
  }
  if (boxes.defined()) {
    const auto corners = (boxes + 0.5).reshape({-1, 2, 2});  // [B, 2, 2]
    const auto size = torch::tensor({static_cast<double>(image_size_), static_cast<double>(image_size_)},
                                    corners.options());
    auto pe = encode_unit_coords(corners / size);  // [B, 2, P]
    pe = pe + torch::stack({point_embedding(2), point_embedding(3)}).unsqueeze(0);  // [B, 2, P]
    sparse.push_back(pe);
  }
  torch::Tensor sparse_out = sparse.empty()
                                 ? torch::empty({batch, 0, embed_dim_}, torch::TensorOptions().dtype(dtype).device(device))
                                 : torch::cat(sparse, 1);  // [B, T, P]
  torch::Tensor dense;
  if (masks.defined()) {
    dense = mask_downscaling->forward(masks.to(dtype));  // [B, P, e, e]
  } else {
    dense = no_mask_embed->weight.reshape({1, -1, 1, 1}).expand({batch, -1, embedding_size_, embedding_size_});  // [B, P, e, e]
  }
  return {sparse_out, dense};
}

}  // namespace regionlm::sam
