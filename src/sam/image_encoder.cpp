#include "regionlm/sam/image_encoder.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

namespace {

// Relative-position table lookup for equal query and key sizes: entry [i, j] is row
// i - j + size - 1 of the table.
torch::Tensor relative_table(const torch::Tensor& table, int64_t size) {
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(table.device());
  const auto q = torch::arange(size, opts).unsqueeze(1);  // [size, 1]
  const auto k = torch::arange(size, opts).unsqueeze(0);  // [1, size]
  return table.index({q - k + (size - 1)});               // [size, size, head_dim]
}

// [B, H, W, C] -> ([B * nW, w, w, C], padded H, padded W): zero padding bottom/right.
std::tuple<torch::Tensor, int64_t, int64_t> window_partition(const torch::Tensor& x, int64_t window) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t pad_h = (window - H % window) % window;
  const int64_t pad_w = (window - W % window) % window;
  torch::Tensor padded = x;
  if (pad_h > 0 || pad_w > 0) padded = torch::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h});  // [B, Hp, Wp, C]
  const int64_t Hp = H + pad_h, Wp = W + pad_w;
  auto windows = padded.view({B, Hp / window, window, Wp / window, window, C})
                     .permute({0, 1, 3, 2, 4, 5})
                     .contiguous()
                     .view({-1, window, window, C});  // [B * nW, w, w, C]
  return {windows, Hp, Wp};
}

torch::Tensor window_unpartition(const torch::Tensor& windows, int64_t window, int64_t Hp, int64_t Wp,
                                 int64_t H, int64_t W) {
  const int64_t B = windows.size(0) / (Hp * Wp / window / window);
  auto x = windows.view({B, Hp / window, Wp / window, window, window, -1})
               .permute({0, 1, 3, 2, 4, 5})
               .contiguous()
               .view({B, Hp, Wp, -1});  // [B, Hp, Wp, C]
  if (Hp > H || Wp > W) x = x.slice(1, 0, H).slice(2, 0, W).contiguous();  // [B, H, W, C]
  return x;
}

}  // namespace

VitAttentionImpl::VitAttentionImpl(int64_t dim, int64_t num_heads, int64_t grid,
                                   const torch::TensorOptions& options)
    : num_heads_(num_heads), grid_(grid) {
  if (num_heads <= 0 || dim % num_heads != 0) {
    throw ConfigError("SAM ViT: encoder_num_heads " + std::to_string(num_heads) +
                      " does not divide encoder_embed_dim " + std::to_string(dim));
  }
  qkv = register_module("qkv", Linear(dim, 3 * dim, options));
  proj = register_module("proj", Linear(dim, dim, options));
  rel_pos_h = register_parameter("rel_pos_h", torch::empty({2 * grid - 1, dim / num_heads}, options));
  rel_pos_w = register_parameter("rel_pos_w", torch::empty({2 * grid - 1, dim / num_heads}, options));
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  const int64_t N = H * W;
  const auto qkv_out = qkv(x)
                           .reshape({B, N, 3, num_heads_, -1})
                           .permute({2, 0, 3, 1, 4})
                           .reshape({3, B * num_heads_, N, -1});  // [3, B * nh, N, hd]
  const auto q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];     // [B * nh, N, hd]
  const int64_t head_dim = q.size(-1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  auto attn = torch::matmul(q * scale, k.transpose(-2, -1));  // [B * nh, N, N]

  const auto Rh = relative_table(rel_pos_h, H);  // [H, H, hd]
  const auto Rw = relative_table(rel_pos_w, W);  // [W, W, hd]
  const auto r_q = q.reshape({B * num_heads_, H, W, head_dim});                // [B * nh, H, W, hd]
  const auto rel_h = torch::einsum("bhwc,hkc->bhwk", {r_q, Rh});              // [B * nh, H, W, H]
  const auto rel_w = torch::einsum("bhwc,wkc->bhwk", {r_q, Rw});              // [B * nh, H, W, W]
  attn = (attn.view({B * num_heads_, H, W, H, W}) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2))
             .view({B * num_heads_, N, N});  // [B * nh, N, N]
  attn = attn.softmax(-1);
  auto out = torch::matmul(attn, v)
                 .view({B, num_heads_, H, W, -1})
                 .permute({0, 2, 3, 1, 4})
                 .reshape({B, H, W, -1});  // [B, H, W, C]
  return proj(out);                        // [B, H, W, C]
}

VitBlockImpl::VitBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_dim, int64_t window_size,
                           int64_t grid, const torch::TensorOptions& options)
    : window_size_(window_size) {
  norm1 = register_module("norm1", LayerNorm(dim, 1e-6, options));
  attn = register_module("attn", VitAttention(dim, num_heads, window_size > 0 ? window_size : grid, options));
  norm2 = register_module("norm2", LayerNorm(dim, 1e-6, options));
  mlp = register_module("mlp", MlpBlock(dim, mlp_dim, MlpBlockImpl::Activation::Gelu, options));
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor& x) {
  auto h = norm1(x);  // [B, H, W, C]
  if (window_size_ > 0) {
    const int64_t H = h.size(1), W = h.size(2);
    auto [windows, Hp, Wp] = window_partition(h, window_size_);  // [B * nW, w, w, C]
    h = window_unpartition(attn(windows), window_size_, Hp, Wp, H, W);  // [B, H, W, C]
  } else {
    h = attn(h);  // [B, H, W, C]
  }
  auto y = x + h;                // [B, H, W, C]
  return y + mlp(norm2(y));      // [B, H, W, C]
}

ImageEncoderVitImpl::ImageEncoderVitImpl(const SamConfig& cfg, const torch::TensorOptions& options) {
  const int64_t E = cfg.encoder_embed_dim;
  if (cfg.vit_patch_size <= 0 || cfg.image_size % cfg.vit_patch_size != 0) {
    throw ConfigError("SAM ViT: image_size " + std::to_string(cfg.image_size) +
                      " is not a multiple of vit_patch_size " + std::to_string(cfg.vit_patch_size));
  }
  const int64_t grid = cfg.image_size / cfg.vit_patch_size;
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>("PatchEmbed"));
  patch_proj = patch_embed->register_module(
      "proj", Conv2d(ConvSpec{3, E, cfg.vit_patch_size, cfg.vit_patch_size, 0, 1, true}, options));
  pos_embed = register_parameter("pos_embed", torch::empty({1, grid, grid, E}, options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.encoder_depth; ++i) {
    const bool global = std::find(cfg.encoder_global_attn_indexes.begin(),
                                  cfg.encoder_global_attn_indexes.end(), i) !=
                        cfg.encoder_global_attn_indexes.end();
    if (!global && cfg.window_size <= 0) {
      throw ConfigError("SAM ViT: block " + std::to_string(i) + " is windowed but window_size is " +
                        std::to_string(cfg.window_size));
    }
    blocks->push_back(VitBlock(E, cfg.encoder_num_heads, cfg.vit_mlp_dim, global ? 0 : cfg.window_size,
                               grid, options));
  }
  const int64_t P = cfg.prompt_embed_dim;
  neck = register_module("neck", torch::nn::Sequential(
                                     Conv2d(ConvSpec{E, P, 1, 1, 0, 1, false}, options),
                                     LayerNorm2d(P, 1e-6, options),
                                     Conv2d(ConvSpec{P, P, 3, 1, 1, 1, false}, options),
                                     LayerNorm2d(P, 1e-6, options)));
}

torch::Tensor ImageEncoderVitImpl::forward(const torch::Tensor& pixels) {
  auto x = patch_proj(pixels).permute({0, 2, 3, 1});  // [B, G, G, E]
  x = x + pos_embed;                                   // [B, G, G, E]
  for (const auto& block : *blocks) x = block->as<VitBlockImpl>()->forward(x);  // [B, G, G, E]
  return neck->forward(x.permute({0, 3, 1, 2}));  // [B, P, G, G]
}

}  // namespace regionlm::sam
