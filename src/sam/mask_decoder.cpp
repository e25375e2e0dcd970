#include "regionlm/sam/mask_decoder.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

DecoderAttentionImpl::DecoderAttentionImpl(int64_t dim, int64_t num_heads, int64_t downsample_rate,
                                           const torch::TensorOptions& options)
    : num_heads_(num_heads) {
  const int64_t internal = dim / downsample_rate;
  if (downsample_rate <= 0 || internal <= 0 || internal % num_heads != 0) {
    throw ConfigError("SAM mask decoder: " + std::to_string(num_heads) + " heads do not divide the attention width " +
                      std::to_string(internal));
  }
  q_proj = register_module("q_proj", Linear(dim, internal, options));
  k_proj = register_module("k_proj", Linear(dim, internal, options));
  v_proj = register_module("v_proj", Linear(dim, internal, options));
  out_proj = register_module("out_proj", Linear(internal, dim, options));
}

torch::Tensor DecoderAttentionImpl::forward(const torch::Tensor& q_in, const torch::Tensor& k_in,
                                            const torch::Tensor& v_in) {
  auto heads = [&](const torch::Tensor& x) {
    return x.reshape({x.size(0), x.size(1), num_heads_, -1}).transpose(1, 2);  // [B, nh, N, c]
  };
  const auto q = heads(q_proj(q_in));  // [B, nh, Nq, c]
  const auto k = heads(k_proj(k_in));  // [B, nh, Nk, c]
  const auto v = heads(v_proj(v_in));  // [B, nh, Nk, c]
  auto attn = torch::matmul(q, k.permute({0, 1, 3, 2}));             // [B, nh, Nq, Nk]
  attn = attn / std::sqrt(static_cast<double>(q.size(-1)));
  attn = torch::softmax(attn, -1);
  auto out = torch::matmul(attn, v);                                  // [B, nh, Nq, c]
  out = out.transpose(1, 2).reshape({out.size(0), out.size(2), -1});  // [B, Nq, internal]
  return out_proj(out);                                               // [B, Nq, C]
}

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(const SamConfig& cfg, bool skip_first_layer_pe,
                                                   const torch::TensorOptions& options)
    : skip_first_layer_pe_(skip_first_layer_pe) {
  const int64_t C = cfg.prompt_embed_dim, heads = cfg.decoder_num_heads, rate = cfg.attention_downsample_rate;
  self_attn = register_module("self_attn", DecoderAttention(C, heads, 1, options));
  norm1 = register_module("norm1", LayerNorm(C, 1e-5, options));
  cross_attn_token_to_image = register_module("cross_attn_token_to_image", DecoderAttention(C, heads, rate, options));
  norm2 = register_module("norm2", LayerNorm(C, 1e-5, options));
  mlp = register_module("mlp", MlpBlock(C, cfg.decoder_mlp_dim, MlpBlockImpl::Activation::Relu, options));
  norm3 = register_module("norm3", LayerNorm(C, 1e-5, options));
  norm4 = register_module("norm4", LayerNorm(C, 1e-5, options));
  cross_attn_image_to_token = register_module("cross_attn_image_to_token", DecoderAttention(C, heads, rate, options));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayAttentionBlockImpl::forward(const torch::Tensor& queries_in,
                                                                          const torch::Tensor& keys_in,
                                                                          const torch::Tensor& query_pe,
                                                                          const torch::Tensor& key_pe) {
  torch::Tensor queries;
  if (skip_first_layer_pe_) {
    queries = self_attn(queries_in, queries_in, queries_in);  // [B, T, C]
  } else {
    const auto q = queries_in + query_pe;
    queries = queries_in + self_attn(q, q, queries_in);  // [B, T, C]
  }
  queries = norm1(queries);

  auto q = queries + query_pe;   // [B, T, C]
  auto k = keys_in + key_pe;     // [B, N, C]
  queries = norm2(queries + cross_attn_token_to_image(q, k, keys_in));  // [B, T, C]
  queries = norm3(queries + mlp(queries));                               // [B, T, C]

  q = queries + query_pe;
  k = keys_in + key_pe;
  auto keys = norm4(keys_in + cross_attn_image_to_token(k, q, queries));  // [B, N, C]
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(const SamConfig& cfg, const torch::TensorOptions& options) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.decoder_depth; ++i) layers->push_back(TwoWayAttentionBlock(cfg, i == 0, options));
  final_attn_token_to_image = register_module(
      "final_attn_token_to_image",
      DecoderAttention(cfg.prompt_embed_dim, cfg.decoder_num_heads, cfg.attention_downsample_rate, options));
  norm_final_attn = register_module("norm_final_attn", LayerNorm(cfg.prompt_embed_dim, 1e-5, options));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayTransformerImpl::forward(const torch::Tensor& image,
                                                                       const torch::Tensor& image_pe,
                                                                       const torch::Tensor& tokens) {
  auto keys = image.flatten(2).permute({0, 2, 1});     // [B, N, C]
  const auto key_pe = image_pe.flatten(2).permute({0, 2, 1});  // [1 or B, N, C]
  auto queries = tokens;                                // [B, T, C]
  for (const auto& layer : *layers) {
    std::tie(queries, keys) = layer->as<TwoWayAttentionBlockImpl>()->forward(queries, keys, tokens, key_pe);
  }
  const auto q = queries + tokens;
  const auto k = keys + key_pe;
  queries = norm_final_attn(queries + final_attn_token_to_image(q, k, keys));  // [B, T, C]
  return {queries, keys};
}

MaskDecoderImpl::MaskDecoderImpl(const SamConfig& cfg, const torch::TensorOptions& options)
    : num_mask_tokens_(cfg.num_multimask_outputs + 1) {
  const int64_t C = cfg.prompt_embed_dim;
  transformer = register_module("transformer", TwoWayTransformer(cfg, options));
  iou_token = register_module("iou_token", Embedding(1, C, options));
  mask_tokens = register_module("mask_tokens", Embedding(num_mask_tokens_, C, options));
  output_upscaling = register_module(
      "output_upscaling",
      torch::nn::Sequential(ConvTranspose2d(ConvSpec{C, C / 4, 2, 2}, options), LayerNorm2d(C / 4, 1e-6, options),
                            torch::nn::Functional([](const torch::Tensor& x) { return torch::gelu(x); }),
                            ConvTranspose2d(ConvSpec{C / 4, C / 8, 2, 2}, options),
                            torch::nn::Functional([](const torch::Tensor& x) { return torch::gelu(x); })));
  output_hypernetworks_mlps = register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens_; ++i) output_hypernetworks_mlps->push_back(Mlp(C, C, C / 8, 3, options));
  iou_prediction_head = register_module(
      "iou_prediction_head", Mlp(C, cfg.iou_head_hidden_dim, num_mask_tokens_, cfg.iou_head_depth, options));
}

std::pair<torch::Tensor, torch::Tensor> MaskDecoderImpl::features(const torch::Tensor& image_embedding,
                                                                  const torch::Tensor& image_pe,
                                                                  const torch::Tensor& sparse,
                                                                  const torch::Tensor& dense) {
  const int64_t B = sparse.size(0);
  const auto output_tokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0);  // [1 + M, C]
  const auto tokens = torch::cat({output_tokens.unsqueeze(0).expand({B, -1, -1}), sparse}, 1);  // [B, 1 + M + T, C]
  const auto src = image_embedding + dense;  // [B, C, e, e] (the embedding broadcast over prompts)
  const int64_t C = src.size(1), h = src.size(2), w = src.size(3);
  auto [hs, keys] = transformer(src, image_pe, tokens);  // [B, 1 + M + T, C], [B, e * e, C]
  auto upscaled = output_upscaling->forward(keys.transpose(1, 2).view({B, C, h, w}));  // [B, C / 8, 4e, 4e]
  return {std::move(hs), std::move(upscaled)};
}

std::pair<torch::Tensor, torch::Tensor> MaskDecoderImpl::forward(const torch::Tensor& image_embedding,
                                                                 const torch::Tensor& image_pe,
                                                                 const torch::Tensor& sparse,
                                                                 const torch::Tensor& dense) {
  const int64_t B = sparse.size(0);
  const auto [hs, upscaled] = features(image_embedding, image_pe, sparse, dense);
  const auto iou_token_out = hs.select(1, 0);                         // [B, C]
  const auto mask_tokens_out = hs.slice(1, 1, 1 + num_mask_tokens_);  // [B, M, C]
  std::vector<torch::Tensor> hyper;
  for (int64_t i = 0; i < num_mask_tokens_; ++i) {
    hyper.push_back(output_hypernetworks_mlps[i]->as<MlpImpl>()->forward(mask_tokens_out.select(1, i)));  // [B, C / 8]
  }
  const auto hyper_in = torch::stack(hyper, 1);  // [B, M, C / 8]
  const int64_t c8 = upscaled.size(1), H = upscaled.size(2), W = upscaled.size(3);
  const auto masks = torch::matmul(hyper_in, upscaled.view({B, c8, H * W})).view({B, -1, H, W});  // [B, M, 4e, 4e]
  const auto iou = iou_prediction_head(iou_token_out);  // [B, M]
  return {masks, iou};
}

}  // namespace regionlm::sam
