#include "regionlm/sam/tiny_vit.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::sam {

MBConvImpl::MBConvImpl(int64_t dim, int64_t hidden, const torch::TensorOptions& options) {
  conv1 = register_module("conv1", Conv2dBN(ConvSpec{dim, hidden, 1}, options));
  conv2 = register_module("conv2", Conv2dBN(ConvSpec{hidden, hidden, 3, 1, 1, hidden}, options));
  conv3 = register_module("conv3", Conv2dBN(ConvSpec{hidden, dim, 1}, options));
}

torch::Tensor MBConvImpl::forward(const torch::Tensor& x) {
  auto h = torch::gelu(conv1(x));  // [B, hidden, H, W]
  h = torch::gelu(conv2(h));       // [B, hidden, H, W]
  h = conv3(h);                    // [B, C, H, W]
  return torch::gelu(h + x);       // [B, C, H, W]
}

PatchMergingImpl::PatchMergingImpl(int64_t dim, int64_t out_dim, int64_t stride,
                                   const torch::TensorOptions& options) {
  conv1 = register_module("conv1", Conv2dBN(ConvSpec{dim, out_dim, 1}, options));
  conv2 = register_module("conv2", Conv2dBN(ConvSpec{out_dim, out_dim, 3, stride, 1, out_dim}, options));
  conv3 = register_module("conv3", Conv2dBN(ConvSpec{out_dim, out_dim, 1}, options));
}

torch::Tensor PatchMergingImpl::forward(const torch::Tensor& x) {
  auto h = torch::gelu(conv1(x));           // [B, out, H, W]
  h = torch::gelu(conv2(h));                // [B, out, H', W']
  h = conv3(h);                             // [B, out, H', W']
  return h.flatten(2).transpose(1, 2);      // [B, H' * W', out]
}

TinyAttentionImpl::TinyAttentionImpl(int64_t dim, int64_t num_heads, int64_t window,
                                     const torch::TensorOptions& options)
    : num_heads_(num_heads) {
  if (num_heads <= 0 || dim % num_heads != 0) {
    throw ConfigError("TinyViT: num_heads " + std::to_string(num_heads) + " does not divide the stage width " +
                      std::to_string(dim));
  }
  norm = register_module("norm", LayerNorm(dim, 1e-5, options));
  qkv = register_module("qkv", Linear(dim, 3 * dim, options));
  proj = register_module("proj", Linear(dim, dim, options));
  // Offsets (|dy|, |dx|) are numbered in order of first appearance over all point pairs in
  // row-major order, which for a square window is dy * window + dx.
  attention_biases = register_parameter("attention_biases", torch::empty({num_heads, window * window}, options));
  const auto lopts = torch::TensorOptions().dtype(torch::kLong).device(options.device());
  const auto pos = torch::arange(window * window, lopts);                       // [N]
  const auto dy = (pos.floor_divide(window).unsqueeze(1) - pos.floor_divide(window).unsqueeze(0)).abs();  // [N, N]
  const auto dx = (pos.remainder(window).unsqueeze(1) - pos.remainder(window).unsqueeze(0)).abs();        // [N, N]
  bias_index_ = dy * window + dx;  // [N, N]
}

torch::Tensor TinyAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1);
  const auto h = norm(x);  // [B, N, C]
  const auto parts = qkv(h).view({B, N, num_heads_, -1}).chunk(3, /*dim=*/3);  // 3 x [B, N, nh, hd]
  const auto q = parts[0].permute({0, 2, 1, 3});  // [B, nh, N, hd]
  const auto k = parts[1].permute({0, 2, 1, 3});  // [B, nh, N, hd]
  const auto v = parts[2].permute({0, 2, 1, 3});  // [B, nh, N, hd]
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const auto bias = attention_biases.index({torch::indexing::Slice(), bias_index_});  // [nh, N, N]
  auto attn = torch::matmul(q, k.transpose(-2, -1)) * scale + bias;                  // [B, nh, N, N]
  attn = attn.softmax(-1);
  const auto out = torch::matmul(attn, v).transpose(1, 2).reshape({B, N, -1});  // [B, N, C]
  return proj(out);                                                              // [B, N, C]
}

TinyVitBlockImpl::TinyVitBlockImpl(int64_t dim, int64_t num_heads, int64_t window, int64_t mlp_hidden,
                                   int64_t local_conv_size, const torch::TensorOptions& options)
    : window_(window) {
  if (window <= 0) throw ConfigError("TinyViT: window size must be positive");
  attn = register_module("attn", TinyAttention(dim, num_heads, window, options));
  mlp = register_module("mlp", std::make_shared<torch::nn::Module>("Mlp"));
  mlp_norm = mlp->register_module("norm", LayerNorm(dim, 1e-5, options));
  fc1 = mlp->register_module("fc1", Linear(dim, mlp_hidden, options));
  fc2 = mlp->register_module("fc2", Linear(mlp_hidden, dim, options));
  local_conv = register_module(
      "local_conv", Conv2dBN(ConvSpec{dim, dim, local_conv_size, 1, local_conv_size / 2, dim}, options));
}

torch::Tensor TinyVitBlockImpl::forward(const torch::Tensor& x, int64_t H, int64_t W) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2);
  torch::Tensor h;
  if (H == window_ && W == window_) {
    h = attn(x);  // [B, L, C]
  } else {
    auto grid = x.view({B, H, W, C});  // [B, H, W, C]
    const int64_t pad_b = (window_ - H % window_) % window_;
    const int64_t pad_r = (window_ - W % window_) % window_;
    if (pad_b > 0 || pad_r > 0) grid = torch::constant_pad_nd(grid, {0, 0, 0, pad_r, 0, pad_b});  // [B, pH, pW, C]
    const int64_t pH = H + pad_b, pW = W + pad_r, nH = pH / window_, nW = pW / window_;
    auto windows = grid.view({B, nH, window_, nW, window_, C})
                       .transpose(2, 3)
                       .reshape({B * nH * nW, window_ * window_, C});  // [B * nW, w * w, C]
    windows = attn(windows);                                           // [B * nW, w * w, C]
    grid = windows.view({B, nH, nW, window_, window_, C}).transpose(2, 3).reshape({B, pH, pW, C});
    if (pad_b > 0 || pad_r > 0) grid = grid.slice(1, 0, H).slice(2, 0, W).contiguous();  // [B, H, W, C]
    h = grid.view({B, L, C});  // [B, L, C]
  }
  auto y = x + h;                                              // [B, L, C]
  y = local_conv(y.transpose(1, 2).reshape({B, C, H, W}));     // [B, C, H, W]
  y = y.view({B, C, L}).transpose(1, 2);                       // [B, L, C]
  return y + fc2(torch::gelu(fc1(mlp_norm(y))));               // [B, L, C]
}

TinyVitImpl::TinyVitImpl(const SamConfig& cfg, const torch::TensorOptions& options)
    : image_size_(cfg.image_size) {
  const size_t n = cfg.embed_dims.size();
  if (n < 2 || cfg.depths.size() != n || cfg.num_heads.size() != n || cfg.window_sizes.size() != n) {
    throw ConfigError("TinyViT: embed_dims, depths, num_heads and window_sizes must have the same length (>= 2)");
  }
  if (cfg.image_size <= 0 || cfg.image_size % 16 != 0) {
    throw ConfigError("TinyViT: image_size must be a positive multiple of 16, got " + std::to_string(cfg.image_size));
  }
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>("PatchEmbed"));
  auto seq = patch_embed->register_module("seq", std::make_shared<torch::nn::Module>("Sequential"));
  const int64_t e0 = cfg.embed_dims[0];
  stem1 = seq->register_module("0", Conv2dBN(ConvSpec{3, e0 / 2, 3, 2, 1}, options));
  stem2 = seq->register_module("2", Conv2dBN(ConvSpec{e0 / 2, e0, 3, 2, 1}, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (size_t s = 0; s < n; ++s) {
    auto layer = std::make_shared<torch::nn::Module>(s == 0 ? "ConvLayer" : "BasicLayer");
    auto blocks = layer->register_module("blocks", torch::nn::ModuleList());
    Stage stage;
    const int64_t dim = cfg.embed_dims[s];
    for (int64_t i = 0; i < cfg.depths[s]; ++i) {
      std::shared_ptr<torch::nn::Module> block;
      if (s == 0) {
        block = MBConv(dim, dim * cfg.mbconv_hidden_ratio, options).ptr();
      } else {
        block = TinyVitBlock(dim, cfg.num_heads[s], cfg.window_sizes[s], dim * cfg.tiny_mlp_ratio,
                             cfg.local_conv_size, options).ptr();
      }
      blocks->push_back(block);
      stage.blocks.push_back(block);
    }
    if (s + 1 < n) {
      // The merge into the last stage keeps the resolution (MobileSAM's 64x64 output).
      const int64_t stride = s + 2 == n ? 1 : 2;
      stage.downsample = layer->register_module(
          "downsample", PatchMerging(dim, cfg.embed_dims[s + 1], stride, options));
      stage.downsample_stride = stride;
    }
    layers->push_back(layer);
    stages_.push_back(std::move(stage));
  }
  const int64_t P = cfg.prompt_embed_dim;
  neck = register_module("neck", torch::nn::Sequential(
                                     Conv2d(ConvSpec{cfg.embed_dims.back(), P, 1, 1, 0, 1, false}, options),
                                     LayerNorm2d(P, 1e-6, options),
                                     Conv2d(ConvSpec{P, P, 3, 1, 1, 1, false}, options),
                                     LayerNorm2d(P, 1e-6, options)));
}

torch::Tensor TinyVitImpl::forward(const torch::Tensor& pixels) {
  auto x = stem2(torch::gelu(stem1(pixels)));  // [B, e0, S / 4, S / 4]
  const int64_t B = x.size(0);
  int64_t H = x.size(2), W = x.size(3);
  for (const auto& block : stages_[0].blocks) x = static_cast<MBConvImpl&>(*block).forward(x);  // [B, e0, H, W]
  // Every later stage works on tokens [B, H * W, C]; a stride-2 merge gives ceil(side / 2).
  auto tokens = stages_[0].downsample->forward(x);  // [B, H' * W', e1]
  H = (H - 1) / stages_[0].downsample_stride + 1;
  W = (W - 1) / stages_[0].downsample_stride + 1;
  for (size_t s = 1; s < stages_.size(); ++s) {
    for (const auto& block : stages_[s].blocks) {
      tokens = static_cast<TinyVitBlockImpl&>(*block).forward(tokens, H, W);  // [B, H * W, C]
    }
    if (stages_[s].downsample) {
      const int64_t C = tokens.size(2);
      tokens = stages_[s].downsample->forward(tokens.view({B, H, W, C}).permute({0, 3, 1, 2}));  // [B, H' * W', C']
      H = (H - 1) / stages_[s].downsample_stride + 1;
      W = (W - 1) / stages_[s].downsample_stride + 1;
    }
  }
  const int64_t side = image_size_ / 16;
  if (H != side || W != side) {
    throw ShapeError("TinyViT: final token grid " + std::to_string(H) + "x" + std::to_string(W) +
                     " is not image_size / 16 = " + std::to_string(side));
  }
  auto grid = tokens.view({B, H, W, -1}).permute({0, 3, 1, 2});  // [B, C, S / 16, S / 16]
  return neck->forward(grid);                                      // [B, P, S / 16, S / 16]
}

}  // namespace regionlm::sam
